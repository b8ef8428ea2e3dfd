"""Decision: is a message sent to an agent reply address (support+a.<token>@...) really that agent's? Pure.

Intake finds the token (`find_reply_token`), verifies its signature, looks up the agent the token
names, and asks `judge_agent_reply` with the raw From and Authentication-Results headers. Only an
`ACCEPTED` reply is relayed; every other verdict is stored, flagged `forged_agent_reply` and
reported to the real agent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from email import errors as email_errors
from email import policy
from email.headerregistry import AddressHeader
from enum import StrEnum

import authres

from mailbridge.decisions.inbound.parse import ParsedMessage, recipients_of
from mailbridge.decisions.matching.reply_tokens import TokenClaims, tokens_in

FORWARD = "f"  # purpose of the reply address given to an outsider by `#forward`: answers go to the agent


class ReplyVerdict(StrEnum):
    ACCEPTED = "accepted"
    BAD_SIGNATURE = "bad_signature"  # tampered or made-up token
    EXPIRED = "expired"
    UNKNOWN_AGENT = "unknown_agent"  # the agent was removed or deactivated
    WRONG_SENDER = "wrong_sender"  # From is not the agent the token was made for
    AMBIGUOUS_SENDER = "ambiguous_sender"  # From names more than one address, or is malformed
    AUTH_FAILED = "auth_failed"  # our receiving server saw DKIM, SPF or DMARC fail, or did not confirm the domain


class AuthOutcome(StrEnum):
    """What the Authentication-Results we trust say about one domain."""

    PASS = "pass"  # dmarc=pass, or an aligned dkim=pass or spf=pass, and no failure
    FAIL = "fail"  # a dmarc, dkim or spf failure for the domain
    UNCONFIRMED = "unconfirmed"  # neither: nothing about the domain, or only none/neutral/softfail
    NO_VERDICT = "no_verdict"  # no header from our receiving server at all


@dataclass(frozen=True)
class AgentIdentity:
    agent_id: int
    email: str
    active: bool


def find_reply_token(parsed: ParsedMessage, own_addresses: frozenset[str], purpose: str) -> str | None:
    """Return the first token of `purpose` in a recipient sub-address of ours, verified or not."""
    for token in tokens_in(recipients_of(parsed), own_addresses):
        if token.lower().startswith(purpose + "."):
            return token
    return None


def judge_agent_reply(
    claims: TokenClaims | None,
    agent: AgentIdentity | None,
    *,
    sender: str | None,
    authentication_results: Sequence[str],
    today: date,
    max_age_days: int,
    from_headers: Sequence[str] | None = None,
    authserv_id: str | None = None,
) -> ReplyVerdict:
    """Decide whether a reply to an agent address may be relayed; `claims` are signature-checked, undated-age.

    `from_headers` are the raw From values (None: the sender is not read from the mail, as for an
    outsider's answer); `authentication_results` every raw Authentication-Results value, topmost first.
    """
    if claims is None:
        return ReplyVerdict.BAD_SIGNATURE
    if claims.issued_day is None or (today - claims.issued_day).days > max_age_days:
        return ReplyVerdict.EXPIRED
    if agent is None or not agent.active:
        return ReplyVerdict.UNKNOWN_AGENT
    if from_headers is not None and ambiguous_sender(from_headers, sender) is not None:
        return ReplyVerdict.AMBIGUOUS_SENDER
    if (sender or "").lower() != agent.email.lower():
        return ReplyVerdict.WRONG_SENDER
    outcome = authentication_outcome(authentication_results, agent.email.rpartition("@")[2], authserv_id)
    # With our authserv-id known the domain must pass; without it only a failure in the topmost header refuses.
    if outcome is AuthOutcome.FAIL or (authserv_id is not None and outcome is not AuthOutcome.PASS):
        return ReplyVerdict.AUTH_FAILED
    return ReplyVerdict.ACCEPTED


# Anything shaped like an address: no white space, angle brackets, quotes, commas or parentheses around the @.
_ADDRESS_LIKE = re.compile(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+")


def ambiguous_sender(from_headers: Sequence[str], parsed_address: str | None) -> str | None:
    """Return why a From is ambiguous (not exactly one clean address, the one we read); None when it is clear.

    `alice@shop.example <evil@attacker.example>` reads as either address depending on the parser, and a
    display name or comment holding another address is made to be read by a person: both are refused.
    """
    if len(from_headers) != 1:
        return f"{len(from_headers)} From headers"
    value = " ".join(from_headers[0].split())
    try:
        parsed = policy.default.header_factory("from", value)
    except Exception:  # noqa: BLE001 - the stdlib's header parser on hostile input.
        return "From does not parse"
    # Obsolete syntax (a period in an unquoted name, RFC 5322 §4.1) is common in real mail and not ambiguous.
    defects = [d for d in parsed.defects if not isinstance(d, email_errors.ObsoleteHeaderDefect)]
    header = parsed if isinstance(parsed, AddressHeader) else None
    if header is None:
        return "From is not an address header"
    if defects:
        return f"From is malformed: {type(defects[0]).__name__}"
    if len(header.addresses) != 1:
        return f"From holds {len(header.addresses)} addresses"
    address = header.addresses[0].addr_spec.lower()
    if "@" not in address or address != (parsed_address or "").lower():
        return f"From reads as {address or 'no address'} and as {parsed_address or 'no address'}"
    texts = (value, str(header), header.addresses[0].display_name)
    others = {found.lower() for text in texts for found in _ADDRESS_LIKE.findall(text)} - {address}
    if others:
        return f"From also names {sorted(others)[0]}"
    return None


_FAILED = frozenset({"fail", "permerror"})


def authentication_outcome(headers: Sequence[str], domain: str, authserv_id: str | None) -> AuthOutcome:
    """Read what the trusted Authentication-Results headers (RFC 8601) say about `domain`.

    With `authserv_id`, every header carrying that id counts and all others are ignored, since anyone
    can add one; without it, only the topmost header counts (the one our receiving server added last).
    """
    results = _trusted_results(headers, authserv_id)
    if results is None:
        return AuthOutcome.NO_VERDICT
    domain = domain.lower()
    if any(_is_failure(method, result, subjects, domain) for method, result, subjects in results):
        return AuthOutcome.FAIL
    if any(_is_pass(method, result, subjects, domain) for method, result, subjects in results):
        return AuthOutcome.PASS
    return AuthOutcome.UNCONFIRMED


def dmarc_failed(headers: Sequence[str], domain: str, authserv_id: str | None) -> bool:
    """Tell whether the trusted Authentication-Results headers report dmarc=fail for `domain` (RFC 7489).

    The headers are trusted as in `authentication_outcome`; a DMARC failure that names no header.from counts.
    """
    domain = domain.lower()
    return any(
        method == "dmarc" and result in _FAILED and subjects.get("header.from", domain) == domain
        for method, result, subjects in _trusted_results(headers, authserv_id) or ()
    )


def _trusted_results(headers: Sequence[str], authserv_id: str | None) -> list[_Result] | None:
    """The results of the headers we trust (see `authentication_outcome`); None: none carries our authserv-id."""
    parsed = [_parse_auth_results(h) for h in headers]
    if authserv_id is None:
        trusted = parsed[:1]
    else:
        trusted = [p for p in parsed if p is not None and p[0] == authserv_id.lower()]
        if not trusted:
            return None
    return [r for p in trusted if p is not None for r in p[1]]


_Result = tuple[str, str, dict[str, str]]  # method, result, {"header.d": domain, ...}


def _parse_auth_results(value: str) -> tuple[str, list[_Result]] | None:
    """Parse one header value into (authserv-id, results); None when it does not parse."""
    value = " ".join(value.split())
    authserv_id: str | None = None
    try:
        header = authres.AuthenticationResultsHeader.parse_value(value)
    except authres.AuthResError:
        # Microsoft 365 writes no authserv-id ("spf=pass ...; dkim=pass ..."): read it under a stand-in
        # id and keep it as "", which no configured authserv_id matches.
        try:
            header = authres.AuthenticationResultsHeader.parse_value("no-authserv-id; " + value)
        except authres.AuthResError:
            return None
        authserv_id = ""
    results = [
        (
            str(r.method).lower(),
            str(r.result).lower(),
            {f"{p.type}.{p.name}".lower(): _domain_of(str(p.value)) for p in r.properties},
        )
        for r in header.results
    ]
    return (str(header.authserv_id or "") if authserv_id is None else authserv_id).lower(), results


def _domain_of(value: str) -> str:
    return value.strip().strip("<>").rpartition("@")[2].lower()


_SUBJECT_KEYS = ("header.d", "header.i", "header.from", "smtp.mailfrom", "smtp.helo")


def _is_failure(method: str, result: str, subjects: dict[str, str], domain: str) -> bool:
    if method not in ("dkim", "spf", "dmarc") or result not in _FAILED:
        return False
    named = [subjects[k] for k in _SUBJECT_KEYS if k in subjects]
    # A failure that names no domain is taken to be about the sender's.
    return not named or domain in named


def _is_pass(method: str, result: str, subjects: dict[str, str], domain: str) -> bool:
    if result != "pass":
        return False
    if method == "dmarc":
        return subjects.get("header.from") == domain
    if method == "dkim":
        return domain in (subjects.get("header.d"), subjects.get("header.i"))
    if method == "spf":
        return subjects.get("smtp.mailfrom") == domain
    return False


def warning_line(verdict: ReplyVerdict, sender: str | None, max_age_days: int) -> str:
    """The one line the real agent reads about a reply that was not relayed."""
    lines = {
        ReplyVerdict.BAD_SIGNATURE: "its reply address was altered or made up",
        ReplyVerdict.EXPIRED: f"its reply address is older than {max_age_days} days; answer the newest notification",
        ReplyVerdict.UNKNOWN_AGENT: "the agent of its reply address is no longer active",
        ReplyVerdict.WRONG_SENDER: f"it came from {sender or 'an unknown sender'}, not from your address",
        ReplyVerdict.AMBIGUOUS_SENDER: f"its From header is ambiguous (it names {sender or 'no address'} "
        "and more, or is malformed)",
        ReplyVerdict.AUTH_FAILED: "our receiving server did not confirm it came from your domain "
        "(DKIM, SPF or DMARC failed, or it gave no verdict)",
    }
    return f"A reply sent to your reply address was NOT relayed to the customer: {lines[verdict]}."
