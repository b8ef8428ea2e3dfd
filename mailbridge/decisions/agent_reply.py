"""Decision: is a message sent to an agent reply address (support+a.<token>@...) really that agent's? Pure.

Intake finds the token (`find_reply_token`), verifies its signature, looks up the agent the token
names, and asks `judge_agent_reply`. Only an `ACCEPTED` reply is relayed; every other verdict is
stored, flagged `forged_agent_reply` and reported to the real agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from mailbridge.decisions.inbound.parse import ParsedMessage, recipients_of
from mailbridge.decisions.matching.reply_tokens import TokenClaims, tokens_in

FORWARD = "f"  # purpose of the reply address given to an outsider by `#forward`: answers go to the agent


class ReplyVerdict(StrEnum):
    ACCEPTED = "accepted"
    BAD_SIGNATURE = "bad_signature"  # tampered or made-up token
    EXPIRED = "expired"
    UNKNOWN_AGENT = "unknown_agent"  # the agent was removed or deactivated
    WRONG_SENDER = "wrong_sender"  # From is not the agent the token was made for
    AUTH_FAILED = "auth_failed"  # our receiving server saw DKIM or SPF fail for the agent's domain


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
    authentication_results: str,
    today: date,
    max_age_days: int,
) -> ReplyVerdict:
    """Decide whether a reply to an agent address may be relayed; `claims` are signature-checked, undated-age."""
    if claims is None:
        return ReplyVerdict.BAD_SIGNATURE
    if claims.issued_day is None or (today - claims.issued_day).days > max_age_days:
        return ReplyVerdict.EXPIRED
    if agent is None or not agent.active:
        return ReplyVerdict.UNKNOWN_AGENT
    if (sender or "").lower() != agent.email.lower():
        return ReplyVerdict.WRONG_SENDER
    if authentication_failed(authentication_results, agent.email.rpartition("@")[2]):
        return ReplyVerdict.AUTH_FAILED
    return ReplyVerdict.ACCEPTED


def authentication_failed(header: str, domain: str) -> bool:
    """Tell whether an Authentication-Results header (RFC 8601) reports dkim=fail or spf=fail for `domain`."""
    domain = domain.lower()
    for clause in header.split(";")[1:]:
        words = clause.strip().lower().split()
        if not words or "=" not in words[0]:
            continue
        method, _, result = words[0].partition("=")
        if method not in ("dkim", "spf") or result not in ("fail", "permerror"):
            continue
        subjects = [
            w.partition("=")[2].rpartition("@")[2]
            for w in words[1:]
            if w.startswith(("header.d=", "header.i=", "smtp.mailfrom=", "smtp.helo=", "header.from="))
        ]
        # A failure that names no domain is taken to be about the sender's.
        if not subjects or domain in subjects:
            return True
    return False


def warning_line(verdict: ReplyVerdict, sender: str | None, max_age_days: int) -> str:
    """The one line the real agent reads about a reply that was not relayed."""
    lines = {
        ReplyVerdict.BAD_SIGNATURE: "its reply address was altered or made up",
        ReplyVerdict.EXPIRED: f"its reply address is older than {max_age_days} days; answer the newest notification",
        ReplyVerdict.UNKNOWN_AGENT: "the agent of its reply address is no longer active",
        ReplyVerdict.WRONG_SENDER: f"it came from {sender or 'an unknown sender'}, not from your address",
        ReplyVerdict.AUTH_FAILED: "the receiving server found its DKIM or SPF check failed for your domain",
    }
    return f"A reply sent to your reply address was NOT relayed to the customer: {lines[verdict]}."
