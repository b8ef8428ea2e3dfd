"""The tickets a history import opened: their messages' dates read, and the status and dates decided applied.

Called by `ingest.history` once an import has stored its mail, in its own transaction; never commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from mailbridge.base.clock import utc
from mailbridge.decisions.history import Settlement, TicketHistory, mail_time
from mailbridge.decisions.kinds import Direction, EventKind, TicketStatus
from mailbridge.store import tickets
from mailbridge.store.models import Message, Ticket

_CHUNK = 500  # ticket numbers per query: far below every database's limit of bound parameters


def imported_histories(
    *, session: Session, numbers: Iterable[str], live: Collection[tuple[str, str]], now: datetime
) -> list[tuple[Ticket, TicketHistory]]:
    """The tickets with these numbers whose every message was imported, with their history.

    Live mail is mail of a polled folder (`live`: (mailbox, folder)), mail on stdin and the mail mailbridge sent (no
    mailbox); a ticket holding any (a customer's reply since, an answer relayed by mailbridge) is not history.
    """
    wanted = sorted(set(numbers))
    found: list[tuple[Ticket, TicketHistory]] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for ticket in session.exec(select(Ticket).where(col(Ticket.number).in_(chunk)).order_by(col(Ticket.id))):
            history = _history(session, ticket, live, now)
            if history is not None:
                found.append((ticket, history))
    return found


def _history(
    session: Session, ticket: Ticket, live: Collection[tuple[str, str]], now: datetime
) -> TicketHistory | None:
    rows = session.exec(
        select(Message.mailbox, Message.folder, Message.sent_at, Message.direction).where(
            Message.ticket_id == ticket.id
        )
    ).all()
    if not rows or any(_is_live(mailbox, folder, live) for mailbox, folder, _, _ in rows):
        return None
    dated = sorted((mail_time(utc(sent_at) if sent_at else None, now), direction) for _, _, sent_at, direction in rows)
    return TicketHistory(
        status=TicketStatus(ticket.status),
        first_at=dated[0][0],
        last_at=dated[-1][0],
        last_is_answer=dated[-1][1] == Direction.OUTBOUND,
    )


def _is_live(mailbox: str | None, folder: str | None, live: Collection[tuple[str, str]]) -> bool:
    return mailbox is None or folder is None or folder == "stdin" or (mailbox, folder) in live


def settle(*, session: Session, ticket: Ticket, history: TicketHistory, settlement: Settlement, now: datetime) -> bool:
    """Date an imported ticket by its messages and give it the status decided; True when its status changed.

    A ticket left open that no one answered counts as reported for the SLA: its first-response time passed long
    before the import, and an escalation for old mail would only be noise.
    """
    created = utc(ticket.created_at) if ticket.created_at else now
    ticket.created_at = min(created, history.first_at)
    ticket.updated_at = history.last_at
    changed = settlement.status is not None and settlement.status != ticket.status
    if changed:
        assert settlement.status is not None
        old = ticket.status
        ticket.status = settlement.status
        ticket.status_changed_at = settlement.closed_at or now
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor="system",
            kind=EventKind.STATUS_CHANGED,
            reason=f"history import: last message {history.last_at:%Y-%m-%d %H:%M} UTC",
            old_status=old,
            new_status=settlement.status,
            now=now,
        )
    if ticket.status == TicketStatus.CLOSED:
        closed_at = settlement.closed_at or history.last_at
        ticket.closed_at = closed_at
        ticket.status_changed_at = closed_at
    elif ticket.first_response_at is None and ticket.sla_reported_at is None:
        ticket.sla_reported_at = now
    session.add(ticket)
    return changed
