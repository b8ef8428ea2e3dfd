"""Decision: what an imported mail archive (`ingest PATH`, `mailboxes import`) makes of its mail and tickets. Pure.

Mail From one of our addresses to a customer is an agent's answer sent long ago: whom it answered, and when.
Once the import has stored everything, each ticket it opened gets the status asked for (`--status`, or closed
only when its last message is older than `--closed-before`), dated by its messages rather than by the import.
Called by `ingest.history` and intake's history branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailbridge.decisions.inbound.classify import is_automatic
from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.kinds import TicketStatus
from mailbridge.decisions.own_addresses import is_ours

# The statuses an import may give the tickets it opens; `new` is what intake gives them anyway.
IMPORT_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.WAITING, TicketStatus.CLOSED)


@dataclass(frozen=True)
class TicketHistory:
    """What a ticket opened by an import holds: its first and last message and who wrote the last one."""

    status: TicketStatus
    first_at: datetime
    last_at: datetime
    last_is_answer: bool  # the newest message is one of our answers


@dataclass(frozen=True)
class Settlement:
    """How to leave an imported ticket: its status (None: as it is) and when it was closed."""

    status: TicketStatus | None
    closed_at: datetime | None


def answered_customer(parsed: ParsedMessage, own: frozenset[str]) -> str | None:
    """The customer an answer of ours was written to: the first To, then Cc, address that is not ours; else None.

    Automatic mail of ours (a receipt, a notice: RFC 3834 Auto-Submitted) is no one's answer.
    """
    if not is_ours(parsed.from_addr, own) or is_automatic(parsed):
        return None
    return next((a.lower() for a in (*parsed.to_addrs, *parsed.cc_addrs) if a and not is_ours(a, own)), None)


def mail_time(sent_at: datetime | None, now: datetime) -> datetime:
    """When an archived mail was written: its Date, never later than now (a wrong clock); now without one."""
    return now if sent_at is None or sent_at > now else sent_at


def settle_ticket(history: TicketHistory, status: TicketStatus | None, closed_before: datetime | None) -> Settlement:
    """Decide an imported ticket's status: `status`, or with `closed_before` closed only when its last message is older.

    Without either, a ticket whose last message is our answer waits on the customer, as after a live answer; a
    closed ticket stays closed. Spam and merged tickets are never changed.
    """
    if history.status in (TicketStatus.SPAM, TicketStatus.MERGED):
        return Settlement(None, None)
    if closed_before is not None:
        if history.last_at < closed_before:
            return Settlement(TicketStatus.CLOSED, history.last_at)
        if status is TicketStatus.CLOSED:
            status = None  # newer tickets stay open: the DATE said where history ends
    if status is TicketStatus.CLOSED:
        return Settlement(TicketStatus.CLOSED, history.last_at)
    if status is None:
        if history.status == TicketStatus.CLOSED:
            return Settlement(None, None)
        status = TicketStatus.WAITING if history.last_is_answer else _open_after(history.status)
    return Settlement(None if status == history.status else status, None)


def _open_after(current: TicketStatus) -> TicketStatus:
    # A customer's message came last: a ticket our answer had put to waiting is open again.
    return TicketStatus.OPEN if current == TicketStatus.WAITING else current
