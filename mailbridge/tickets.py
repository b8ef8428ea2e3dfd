"""Store operations on tickets, inside the caller's session: evidence for threading, customers,
new tickets, and applying a Transition with its audit event. Never commits.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, select

from mailbridge.lifecycle import Transition
from mailbridge.models import Customer, Message, OutboxMail, Ticket, TicketEvent, TicketStatus
from mailbridge.parse import ParsedMessage
from mailbridge.ticket_match import NumberedTicket, ThreadEvidence
from mailbridge.ticket_numbers import find_subject_numbers, new_ticket_number

UNKNOWN_SENDER = "unknown-sender@invalid"


def gather_thread_evidence(*, session: Session, parsed: ParsedMessage, pattern: re.Pattern[str]) -> ThreadEvidence:
    """Look up the ids and ticket numbers a message mentions."""
    ids = [i for i in (parsed.in_reply_to, *parsed.references) if i]
    known: dict[str, int] = {}
    if ids:
        for message_id, ticket_id in session.exec(
            select(Message.message_id, Message.ticket_id).where(Message.message_id.in_(ids), Message.ticket_id.is_not(None))
        ):
            known.setdefault(message_id, ticket_id)
        for message_id, ticket_id in session.exec(
            select(OutboxMail.message_id, OutboxMail.ticket_id).where(OutboxMail.message_id.in_(ids), OutboxMail.ticket_id.is_not(None))
        ):
            known.setdefault(message_id, ticket_id)
    numbered = []
    for number in find_subject_numbers(parsed.subject, pattern):
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).first()
        if ticket is not None:
            numbered.append(NumberedTicket(ticket.id, participants(session=session, ticket=ticket)))
    return ThreadEvidence(tickets_by_message_id=known, numbered_tickets=tuple(numbered))


def participants(*, session: Session, ticket: Ticket) -> frozenset[str]:
    """Return the addresses taking part in a ticket: its customer and every sender on its thread."""
    customer = session.get(Customer, ticket.customer_id)
    senders = session.exec(select(Message.from_addr).where(Message.ticket_id == ticket.id).distinct())
    return frozenset({customer.email, *(s for s in senders if s)})


def ensure_customer(*, session: Session, email: str | None, name: str, now: datetime) -> Customer:
    """Find the customer by address or create one."""
    address = (email or UNKNOWN_SENDER).lower()
    customer = session.exec(select(Customer).where(Customer.email == address)).first()
    if customer is None:
        customer = Customer(email=address, name=name, created_at=now)
        session.add(customer)
        session.flush()
    elif name and not customer.name:
        customer.name = name
    return customer


def open_ticket(*, session: Session, contact_id: int, customer: Customer, subject: str, now: datetime) -> Ticket:
    """Create a ticket with a fresh random number that no other ticket has."""
    number = new_ticket_number()
    while session.exec(select(Ticket.id).where(Ticket.number == number)).first() is not None:
        number = new_ticket_number()
    ticket = Ticket(number=number, status=TicketStatus.NEW, subject=subject[:500], contact_id=contact_id,
                    customer_id=customer.id, created_at=now, updated_at=now)
    session.add(ticket)
    session.flush()
    record_event(session=session, ticket=ticket, actor=f"customer:{customer.email}", kind="created",
                 reason="ticket opened", new_status=ticket.status, now=now)
    return ticket


def apply(*, session: Session, ticket: Ticket, transition: Transition, actor: str, now: datetime) -> None:
    """Apply a transition's status change, with its event."""
    ticket.updated_at = now
    if transition.new_status is None or transition.new_status == ticket.status:
        return
    old = ticket.status
    ticket.status = transition.new_status
    ticket.closed_at = now if transition.new_status == TicketStatus.CLOSED else None
    record_event(session=session, ticket=ticket, actor=actor, kind="status_changed", reason=transition.reason,
                 old_status=old, new_status=ticket.status, now=now)


def record_event(*, session: Session, ticket: Ticket, actor: str, kind: str, reason: str, now: datetime,
                 old_status: str | None = None, new_status: str | None = None) -> None:
    """Append one entry to the ticket's audit trail."""
    session.add(TicketEvent(ticket_id=ticket.id, at=now, actor=actor, kind=kind, reason=reason,
                            old_status=old_status, new_status=new_status))
