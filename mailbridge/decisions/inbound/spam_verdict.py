"""Decision: is a customer message spam, by our receiving server's verdict or our blocklist? Pure.

Intake reads the raw headers (`read_spam_signals`), looks the sender up in the blocklist (`block_keys`, store.blocklist)
and asks `judge_spam`. Spam is stored on a ticket with status `spam` (`plan_spam_message`) and causes no mail: no
receipt, which would be backscatter to a forged sender, and no agent notification.

A sender can write any of these headers into their own mail; that only ever stops mail to them, so each is read
wherever it stands. Authentication-Results are trusted as `agent_reply.authentication_outcome` trusts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser

from mailbridge.base.config.spam import SpamSettings
from mailbridge.decisions.agent_reply import dmarc_failed
from mailbridge.decisions.inbound.mime import decode_header_value
from mailbridge.decisions.kinds import TicketStatus
from mailbridge.decisions.lifecycle import Transition

# Headers whose value is a score (SpamAssassin's X-Spam-Score, Rspamd's X-Rspamd-Score), or holds one.
_SCORE_HEADERS = ("x-spam-score", "x-rspamd-score")
_READ = frozenset(
    {"x-spam-flag", "x-spam-status", "x-spam", "x-spamd-result", "authentication-results", *_SCORE_HEADERS}
)
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_STATUS_SCORE = re.compile(r"\bscore=([-+]?\d+(?:\.\d+)?)", re.IGNORECASE)
# Rspamd: "default: True [7.50 / 15.00]; ..." (True: its action for the message is to treat it as spam).
_SPAMD_RESULT = re.compile(r"^\s*\w+\s*:\s*(true|false)\s*\[\s*([-+]?\d+(?:\.\d+)?)", re.IGNORECASE)
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
_LOCAL = re.compile(r"^[^@\s<>,;\"]+$")


@dataclass(frozen=True)
class SpamSignals:
    """What the headers of one message say about spam; built by `read_spam_signals`."""

    flags: tuple[str, ...] = ()  # why a header calls it spam outright: "X-Spam-Flag: YES"
    scores: tuple[tuple[str, float], ...] = ()  # (header, score)
    authentication_results: tuple[str, ...] = ()  # every value, topmost first


@dataclass(frozen=True)
class SpamVerdict:
    is_spam: bool
    reason: str = ""  # shown on the ticket: "spam verdict: X-Spam-Flag: YES"


NOT_SPAM = SpamVerdict(False)


def read_spam_signals(raw: bytes) -> SpamSignals:
    """Read the spam and authentication headers of a raw message, in their order."""
    # The header block only: a large message's body is never decoded here, nor searched for a bare-LF blank line.
    crlf = raw.find(b"\r\n\r\n")
    ends = [at for at in (crlf, raw.find(b"\n\n", 0, len(raw) if crlf < 0 else crlf + 1)) if at >= 0]
    head = raw[: min(ends) + 2] if ends else raw
    lowered = head.lower()
    # Most mail carries none of these headers: then the header block is not parsed at all (every name read below
    # holds "spam", X-Rspamd-* included, or is Authentication-Results).
    if b"spam" not in lowered and b"authentication-results" not in lowered:
        return SpamSignals((), (), ())
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(head, headersonly=True)
    flags: list[str] = []
    scores: list[tuple[str, float]] = []
    auth: list[str] = []
    for key, value in headers.raw_items():
        name = key.lower()
        if name not in _READ:
            continue
        text = " ".join(decode_header_value(str(value), words=False).split())
        if name == "authentication-results":
            auth.append(text)
        else:
            _read_spam_header(name, key, text, flags, scores)
    return SpamSignals(tuple(flags), tuple(scores), tuple(auth))


def _read_spam_header(name: str, key: str, text: str, flags: list[str], scores: list[tuple[str, float]]) -> None:
    """Add what one spam header says: an outright verdict to `flags`, a score to `scores`."""
    lowered = text.lower()
    if name in ("x-spam-flag", "x-spam") and lowered.startswith("yes"):
        flags.append(f"{key}: {text[:3]}")
    elif name == "x-spam-status":
        if lowered.startswith("yes"):
            flags.append(f"{key}: Yes")
        score = _STATUS_SCORE.search(text)
        if score:
            scores.append((key, float(score[1])))
    elif name == "x-spamd-result":
        result = _SPAMD_RESULT.match(text)
        if result:
            if result[1].lower() == "true":
                flags.append(f"{key}: True")
            scores.append((key, float(result[2])))
    elif name in _SCORE_HEADERS:
        number = _NUMBER.search(text)
        if number:
            scores.append((key, float(number[0])))


def judge_spam(
    signals: SpamSignals,
    *,
    sender: str | None,
    settings: SpamSettings,
    authserv_id: str | None,
    blocked_by: str | None = None,
) -> SpamVerdict:
    """Decide whether a customer message is spam; `blocked_by` is the blocklist entry its sender matched."""
    if blocked_by:
        return SpamVerdict(True, f"blocked sender ({blocked_by})")
    if settings.read_spam_headers:
        if signals.flags:
            return SpamVerdict(True, f"spam verdict: {signals.flags[0]}")
        for header, score in signals.scores:
            if score >= settings.score_threshold:
                return SpamVerdict(True, f"spam verdict: {header} {score:g} >= {settings.score_threshold:g}")
    domain = (sender or "").rpartition("@")[2].lower()
    if settings.dmarc_fail_is_spam and domain and dmarc_failed(signals.authentication_results, domain, authserv_id):
        return SpamVerdict(True, f"spam verdict: dmarc=fail for {domain}")
    return NOT_SPAM


def plan_spam_message(status: TicketStatus | None, verdict: SpamVerdict) -> Transition:
    """Plan what a spam message does: a new ticket is `spam` at once; a ticket it joins keeps its status. No mail."""
    return Transition(TicketStatus.SPAM if status is None else None, (), verdict.reason)


def block_keys(address: str | None) -> tuple[str, ...]:
    """The blocklist entries that would match a sender: the address, its domain and each parent domain."""
    local, at, domain = (address or "").strip().lower().rpartition("@")
    if not (at and local and domain):
        return ()
    labels = domain.split(".")
    parents = tuple("@" + ".".join(labels[i:]) for i in range(len(labels) - 1))
    return (f"{local}@{domain}", *parents)


def block_entry(text: str) -> str:
    """Check a blocklist entry, `ADDRESS` or `@DOMAIN` (which also blocks its subdomains); return it lower-cased.

    Raises: ValueError naming what was expected.
    """
    entry = text.strip().lower()
    local, at, domain = entry.rpartition("@")
    if at and _DOMAIN.match(domain) and (local == "" or _LOCAL.match(local)):
        return entry
    raise ValueError(f"expected an address like spam@example.com or a domain like @example.com, got {text!r}")
