"""Read side of `mailbridge tickets list|search|show|categories|next`: tickets as plain dicts the CLI prints.

Input: the caller's session and the command's filters; output: one summary dict per ticket, or one ticket's
detail with its messages, attachments, history and rating, or the ticket waiting longest for a person with the
customer's messages it has not been answered on. Times stay datetimes; the CLI shows them with `render.format_time`.
Writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailbridge.base.clock import utc
from mailbridge.decisions.kinds import MessageKind, TicketStatus
from mailbridge.reports.search import TicketFilter, check_filter, list_tickets, search_tickets
from mailbridge.store import agents, tickets
from mailbridge.store.models import (
    Agent,
    AgentContact,
    Attachment,
    Contact,
    Customer,
    Message,
    Rating,
    Ticket,
    TicketEvent,
)
from mailbridge.store.raw_files import raw_size

# The statuses in which a ticket waits for a person: `new` (nobody took it yet) and `open` (taken, or the customer
# wrote again after an answer, which is how a waiting or closed ticket is reopened). `waiting` waits on the
# customer; `pending1`/`pending2` were put off on purpose by an agent ("answer later"); closed and spam wait on nobody.
WAITING_FOR_A_PERSON = (TicketStatus.NEW, TicketStatus.OPEN)


def summarise_ticket(session: Session, ticket: Ticket) -> dict:
    """Return one ticket's line: number, status, people, category, counts and times."""
    customer = session.get(Customer, ticket.customer_id)
    contact = session.get(Contact, ticket.contact_id)
    count = len(session.exec(select(Message.id).where(Message.ticket_id == ticket.id)).all())
    linked = session.get(Ticket, ticket.linked_ticket_id) if ticket.linked_ticket_id else None
    agent = session.get(Agent, ticket.assigned_agent_id) if ticket.assigned_agent_id else None
    return {
        "number": ticket.number,
        "status": ticket.status,
        "subject": ticket.subject,
        "customer": customer.email,
        "customer_name": customer.name,
        "contact": contact.name,
        "category": ticket.category,
        "linked_ticket": linked.number if linked else None,
        "assigned_agent": ticket.assigned_agent,  # the assignee's address; None: nobody
        "assigned_agent_name": agent.name if agent else None,
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
        "date": message.sent_at,  # the Date header, as the sender wrote it
        "stored_at": message.stored_at,
        "threaded_by": message.match_reason,
        "order_number": message.order_number,
        "malformed": message.is_malformed,
        "defects": message.defects.splitlines(),
        "raw_bytes": raw_size(message),
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


def unanswered_messages(messages: Iterable[Message]) -> list[Message]:
    """Return the customer's messages after the last answer relayed to them, oldest first.

    `messages` is the ticket's mail in stored order. Bounces, auto-replies, notes and the agents' inbound copies
    are neither the customer's message nor an answer: they are passed over and never hide what the customer wrote.
    """
    waiting: list[Message] = []
    for message in messages:
        if message.kind == MessageKind.AGENT_REPLY:
            waiting = []
        elif message.kind == MessageKind.CUSTOMER:
            waiting.append(message)
    return waiting


def next_waiting(*, session: Session, agent_email: str | None) -> dict | None:
    """Return the ticket waiting longest for a person, with every customer message since the last answer.

    Longest is by its first unanswered customer message. With an agent: their tickets and their Contacts' free ones.
    Raises: NotFoundError for an unknown agent.
    """
    agent = agents.get_agent(session, agent_email) if agent_email else None
    candidates = {t.id: t for t in session.exec(_waiting_tickets(session, agent))}
    if not candidates:
        return None
    thread: dict[int, list[Message]] = {}
    mail = select(Message).where(
        col(Message.ticket_id).in_(candidates), col(Message.kind).in_((MessageKind.CUSTOMER, MessageKind.AGENT_REPLY))
    )
    for message in session.exec(mail.order_by(Message.id)):
        thread.setdefault(message.ticket_id or 0, []).append(message)
    waiting = [(ticket_id, found) for ticket_id, m in thread.items() if (found := unanswered_messages(m))]
    if not waiting:
        return None
    ticket_id, unanswered = min(waiting, key=lambda pair: (utc(pair[1][0].stored_at), pair[1][0].id))
    first = unanswered[0]
    return {
        **summarise_ticket(session, candidates[ticket_id]),
        "message_id": first.id,
        "from": first.from_addr,
        "stored_at": first.stored_at,
        "text": _text_of(first),
        "unanswered": [
            {
                "id": m.id,
                "from": m.from_addr,
                "from_name": m.from_name,
                "subject": m.subject,
                "stored_at": m.stored_at,
                "text": _text_of(m),
            }
            for m in unanswered
        ],
    }


def _waiting_tickets(session: Session, agent: Agent | None):
    query = select(Ticket).where(col(Ticket.status).in_(WAITING_FOR_A_PERSON))
    if agent is None:
        return query
    contact_ids = [c.contact_id for c in session.exec(select(AgentContact).where(AgentContact.agent_id == agent.id))]
    return query.where(
        (col(Ticket.assigned_agent_id) == agent.id)
        | (col(Ticket.assigned_agent_id).is_(None) & col(Ticket.contact_id).in_(contact_ids))
    )


def _text_of(message: Message) -> str:
    return message.stripped_text or message.text_body
