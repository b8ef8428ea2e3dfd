"""Intake's branch for an archived answer of ours (a Sent folder, an mbox of a shared mailbox): its ticket and record.

Called by `intake` for mail From one of our addresses when the Inbox imports history: the answer goes on the ticket
of the customer it was written to, found by In-Reply-To and References first, then by that customer, Contact and
subject (the same rules as the customer's own mail); with none, it opens that customer's ticket. It is recorded as
an agent's answer, dated by its Date, and is never relayed: it went out long ago.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from mailbridge.decisions.history import mail_time
from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.kinds import EventKind, TicketStatus
from mailbridge.decisions.lifecycle import Transition
from mailbridge.decisions.matching.ticket_match import TicketMatch, match_ticket, normalise_subject
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.store import tickets
from mailbridge.store.models import Ticket


def find_ticket(
    ctx: MailContext, *, session: Session, parsed: ParsedMessage, customer: str, contact_id: int, now: datetime
) -> tuple[Ticket, TicketMatch]:
    """The ticket an answer to `customer` belongs to, opened for that customer when there is none."""
    # Matched as if the customer had written it: their thread ids, their tickets under this subject.
    as_customer = replace(parsed, from_addr=customer, from_name="")
    evidence = tickets.gather_thread_evidence(
        session=session,
        parsed=as_customer,
        pattern=ctx.subject_pattern,
        now=now,
        secret=ctx.support.secret,
        support_addresses=ctx.own_addresses,
        contact_id=contact_id,
        reopen_window_days=ctx.support.reopen_window_days,
        previous_secrets=ctx.support.previous_secrets,
    )
    match = match_ticket(as_customer, evidence)
    ticket = session.get(Ticket, match.ticket_id) if match.ticket_id else None
    if ticket is not None:
        return ticket, match
    person = tickets.ensure_customer(session=session, email=customer, name="", now=now)
    ticket = tickets.open_ticket(
        session=session,
        contact_id=contact_id,
        customer=person,
        subject=parsed.subject,
        now=now,
        subject_key=normalise_subject(parsed.subject, ctx.subject_pattern),
        linked_ticket_id=match.linked_ticket_id,
    )
    return ticket, match


def record_answer(*, session: Session, ticket: Ticket, parsed: ParsedMessage, customer: str, now: datetime) -> None:
    """Record an archived answer: the first response (by its Date), the event, and a ticket waiting on the customer."""
    actor = f"agent:{(parsed.from_addr or '').lower()}"
    written = mail_time(parsed.date if isinstance(parsed.date, datetime) else None, now)
    if ticket.first_response_at is None or written < ticket.first_response_at:
        ticket.first_response_at = written
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind=EventKind.AGENT_ANSWERED,
        reason=f"answer to {customer}, imported (sent {written:%Y-%m-%d %H:%M} UTC, not relayed)",
        now=now,
    )
    if ticket.status in (TicketStatus.NEW, TicketStatus.OPEN):
        transition = Transition(TicketStatus.WAITING, (), "imported answer")
        tickets.apply(session=session, ticket=ticket, transition=transition, actor=actor, now=now)
