"""Decision: what retention and erasure remove, pure. Which closed tickets lose their raw mail or are anonymised
(`plan_retention`), the stable pseudonym an erased address becomes, and the counts an erasure reports.

Called by `store.erasure` (the writes), `runtime.retention` (the daily timer) and `runtime.erasure`
(`customers erase`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from mailbridge.decisions.kinds import TicketStatus

# Tickets that are finished: retention counts from their closing (closed_at, else their last status change).
FINISHED = (TicketStatus.CLOSED, TicketStatus.SPAM, TicketStatus.MERGED)
ERASED_DOMAIN = "invalid"  # RFC 2606: never deliverable
ERASED_SUBJECT = "(erased)"


def pseudonym_of(address: str, key: bytes) -> str:
    """The stable pseudonym of an address: `erased-<hash>@invalid`, keyed by the installation's secret.

    Keyed, so that nobody without the secret can confirm a guessed address; stable, so that erasing or anonymising
    one address twice lands on the same row.
    """
    digest = hmac.new(key, address.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()[:20]
    return f"erased-{digest}@{ERASED_DOMAIN}"


def is_pseudonym(address: str) -> bool:
    """Whether an address is one `pseudonym_of` made."""
    return address.startswith("erased-") and address.endswith("@" + ERASED_DOMAIN)


def redact(text: str, address: str, pseudonym: str) -> str:
    """Replace every spelling (any case) of `address` in `text` by `pseudonym` (linear time: a literal pattern)."""
    if not address or address.lower() not in text.lower():
        return text
    return re.sub(re.escape(address), pseudonym, text, flags=re.IGNORECASE)


@dataclass(frozen=True)
class RetentionPolicy:
    """`[retention]`: after how many days a finished ticket loses its raw mail, or is anonymised; 0: never."""

    purge_raw_after_days: int = 0
    anonymise_after_days: int = 0

    @property
    def is_off(self) -> bool:
        return not self.purge_raw_after_days and not self.anonymise_after_days


@dataclass(frozen=True)
class TicketAge:
    """What retention needs of one finished ticket."""

    ticket_id: int
    status: str
    finished_at: datetime  # closed_at, else the last status change
    has_raw: bool  # any of its messages (or mail sent on it) still keeps raw bytes or attachment contents
    is_anonymised: bool


@dataclass(frozen=True)
class RetentionPlan:
    purge_raw: tuple[int, ...] = ()  # ticket ids whose raw mail and attachment contents go
    anonymise: tuple[int, ...] = ()  # ticket ids anonymised as a whole (their raw goes too)


def cutoff(days: int, now: datetime) -> datetime | None:
    """The newest finishing time that is old enough for a rule of `days`; None when the rule is off."""
    return now - timedelta(days=days) if days > 0 else None


def plan_retention(policy: RetentionPolicy, tickets: list[TicketAge], now: datetime) -> RetentionPlan:
    """Pick the finished tickets to anonymise (older than anonymise_after_days) and, of the others, those whose raw
    mail goes (older than purge_raw_after_days and still keeping some)."""
    anonymise_before = cutoff(policy.anonymise_after_days, now)
    purge_before = cutoff(policy.purge_raw_after_days, now)
    anonymise, purge = [], []
    for ticket in tickets:
        if ticket.status not in FINISHED:
            continue
        if anonymise_before is not None and not ticket.is_anonymised and ticket.finished_at <= anonymise_before:
            anonymise.append(ticket.ticket_id)
        elif purge_before is not None and ticket.has_raw and ticket.finished_at <= purge_before:
            purge.append(ticket.ticket_id)
    return RetentionPlan(tuple(purge), tuple(anonymise))


@dataclass(frozen=True)
class ErasureCounts:
    """What one erasure or retention run removed or anonymised (or, in a dry run, would)."""

    tickets: int = 0  # tickets anonymised
    raw_purged_tickets: int = 0  # tickets that lost only their raw mail
    messages: int = 0  # messages whose content was removed
    raw_messages: int = 0  # messages whose raw bytes were removed
    raw_files: int = 0  # raw mail files deleted from the data directory
    attachments: int = 0  # attachments removed (or their contents, by purge_raw_after_days)
    outbox_mails: int = 0  # copies of mail we sent whose bytes were removed
    ratings: int = 0  # rating comments removed (the scores stay, for the statistics)
    participants: int = 0  # Cc participant rows removed
    events: int = 0  # ticket events whose actor or reason named the address
    server_messages: int = 0  # source messages deleted on the IMAP server
    blocklist_kept: int = 0  # the address is on the blocklist; the entry stays (spam protection)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def plus(self, other: ErasureCounts) -> ErasureCounts:
        return ErasureCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def is_empty(self) -> bool:
        return not any(self.as_dict().values())
