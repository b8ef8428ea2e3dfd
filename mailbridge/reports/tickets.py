"""Read side of `mailbridge tickets list|search|show|categories|next`: tickets as plain dicts the CLI prints.

Input: the caller's session and the command's filters; output: one summary dict per ticket, or one ticket's
detail with its messages, attachments, history and rating. Writes nothing.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailbridge.reports.search import TicketFilter, check_filter, list_tickets, search_tickets
from mailbridge.service import agent_desk
from mailbridge.store import agents, tickets
from mailbridge.store.models import Attachment, Contact, Customer, Message, Rating, Ticket, TicketEvent


def summarise_ticket(session: Session, ticket: Ticket) -> dict:
    """Return one ticket's line: number, status, people, category, counts and times."""
    customer = session.get(Customer, ticket.customer_id)
    contact = session.get(Contact, ticket.contact_id)
    count = len(session.exec(select(Message.id).where(Message.ticket_id == ticket.id)).all())
    linked = session.get(Ticket, ticket.linked_ticket_id) if ticket.linked_ticket_id else None
    return {
        "number": ticket.number,
        "status": ticket.status,
        "subject": ticket.subject,
        "customer": customer.email,
        "customer_name": customer.name,
        "contact": contact.name,
        "category": ticket.category,
        "linked_ticket": linked.number if linked else None,
        "assigned_agent": ticket.assigned_agent,
        "messages": count,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "closed_at": ticket.closed_at,
        "first_response_at": ticket.first_response_at,
    }


def list_ticket_summaries(*, session: Session, filters: TicketFilter) -> list[dict]:
    """Return the summaries of the tickets matching every filter, newest first. Raises: CommandError (check_filter)."""
    check_filter(session, filters)
    return [summarise_ticket(session, t) for t in list_tickets(session, filters)]


def search_ticket_summaries(*, session: Session, query: str) -> list[dict]:
    """Return the summaries of the tickets a search finds, each with how it matched."""
    return [{**summarise_ticket(session, t), "matched_by": why} for t, why in search_tickets(session, query)]


def count_categories(*, session: Session) -> list[dict]:
    """Return each category in use with its ticket count, by category."""
    query = (
        select(Ticket.category, func.count())
        .where(col(Ticket.category).is_not(None))
        .group_by(Ticket.category)
        .order_by(Ticket.category)
    )
    return [{"category": c, "tickets": n} for c, n in session.exec(query)]


def ticket_detail(*, session: Session, number: str) -> dict:
    """Return one ticket with its messages, history and rating. Raises: NotFoundError for an unknown number."""
    ticket = tickets.get_ticket(session=session, number=number)
    detail = summarise_ticket(session, ticket)
    detail["messages"] = [
        _message_detail(session, m)
        for m in session.exec(select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id))
    ]
    detail["events"] = [
        _event_detail(e)
        for e in session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))
    ]
    detail["rating"] = _rating_detail(session, ticket)
    return detail


def _message_detail(session: Session, message: Message) -> dict:
    attachments = session.exec(select(Attachment).where(Attachment.message_id == message.id)).all()
    return {
        "id": message.id,
        "direction": message.direction,
        "kind": message.kind,
        "message_id": message.message_id,
        "in_reply_to": message.in_reply_to,
        "from": message.from_addr,
        "from_name": message.from_name,
        "to": message.to_addrs,
        "cc": message.cc_addrs,
        "subject": message.subject,
        "date": message.sent_at,
        "threaded_by": message.match_reason,
        "order_number": message.order_number,
        "malformed": message.is_malformed,
        "defects": message.defects.splitlines(),
        "raw_bytes": len(message.raw),
        "text": message.text_body,
        "stripped_text": message.stripped_text,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256}
            for a in attachments
        ],
    }


def _event_detail(event: TicketEvent) -> dict:
    return {
        "at": event.at,
        "actor": event.actor,
        "kind": event.kind,
        "old_status": event.old_status,
        "new_status": event.new_status,
        "reason": event.reason,
    }


def _rating_detail(session: Session, ticket: Ticket) -> dict | None:
    rating = session.exec(
        select(Rating)
        .where(Rating.ticket_id == ticket.id, col(Rating.replaced_at).is_(None))
        .order_by(col(Rating.id).desc())
    ).first()
    if rating is None:
        return None
    return {"score": rating.score, "comment": rating.comment, "source": rating.source, "at": rating.created_at}


def next_waiting(*, session: Session, agent_email: str | None) -> dict | None:
    """Return the oldest customer message still unanswered, with its ticket's summary; None when nothing waits.

    Raises: NotFoundError for an unknown agent.
    """
    agent = agents.get_agent(session, agent_email) if agent_email else None
    found = agent_desk.next_unanswered(session, agent)
    if found is None:
        return None
    ticket, message = found
    return {
        **summarise_ticket(session, ticket),
        "message_id": message.id,
        "from": message.from_addr,
        "stored_at": message.stored_at,
        "text": message.stripped_text or message.text_body,
    }
