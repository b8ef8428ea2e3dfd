"""Read side of the store: ticket filters, search, customer history; and the order numbers intake records.

Full text is SQLite FTS5 (`message_fts`, kept by triggers on `message`, migration 0011) or PostgreSQL
`to_tsvector` over subject and body (a GIN index on the same expression); both cover every stored
message. Both dialects live here and nowhere else. Called by the CLI (`tickets list|search`,
`customers show`) and by intake (order numbers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, text
from sqlmodel import Session, select

from mailbridge.base.errors import CommandError
from mailbridge.decisions.kinds import TicketStatus
from mailbridge.decisions.matching.ticket_numbers import is_valid_ticket_number
from mailbridge.store.agents import find_agent
from mailbridge.store.models import Contact, Customer, Message, Ticket
from mailbridge.store.tickets import find_ticket

FULLTEXT_LIMIT = 500
PG_DOCUMENT = "to_tsvector('simple', coalesce(subject, '') || ' ' || coalesce(text_body, ''))"


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    contact: str | None = None  # Contact name
    customer: str | None = None  # customer address
    category: str | None = None  # "Orders" also matches "Orders > Returns"
    agent: str | None = None  # the assigned agent
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before


def check_filter(session: Session, filters: TicketFilter) -> None:
    """Refuse a status, Contact or agent that does not exist, naming the valid values.

    Raises: CommandError, so a typo is one line and a non-zero exit instead of "no tickets".
    """
    if filters.status and filters.status not in set(TicketStatus):
        raise CommandError(f"--status: unknown status {filters.status!r} (known: {', '.join(TicketStatus)})")
    if filters.contact:
        names = list(session.exec(select(Contact.name).order_by(Contact.name)))
        if filters.contact not in names:
            raise CommandError(f"--contact: no Contact named {filters.contact!r} (known: {', '.join(names) or 'none'})")
    if filters.agent and find_agent(session, filters.agent) is None:
        raise CommandError(f"--agent: no agent with address {filters.agent!r} (see `mailbridge agents list`)")


def list_tickets(session: Session, filters: TicketFilter, limit: int = 1000) -> list[Ticket]:
    """Return tickets matching every given filter, newest first."""
    query = select(Ticket)
    if filters.status:
        query = query.where(Ticket.status == filters.status)
    if filters.contact:
        query = query.join(Contact, Contact.id == Ticket.contact_id).where(Contact.name == filters.contact)
    if filters.customer:
        query = query.join(Customer, Customer.id == Ticket.customer_id).where(
            Customer.email == filters.customer.lower()
        )
    if filters.category:
        query = query.where(
            or_(Ticket.category == filters.category, Ticket.category.startswith(filters.category + " > "))
        )
    if filters.agent:
        query = query.where(Ticket.assigned_agent == filters.agent.lower())
    if filters.since:
        query = query.where(Ticket.created_at >= filters.since)
    if filters.until:
        query = query.where(Ticket.created_at < filters.until)
    return list(session.exec(query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))


def search_tickets(session: Session, query: str, limit: int = 100) -> list[tuple[Ticket, str]]:
    """Find tickets by number, order number, customer address or name, then full text; with how each matched."""
    found: dict[int, str] = {}
    term = query.strip()
    number = term.strip("[]#").strip()
    if is_valid_ticket_number(number):
        ticket = find_ticket(session=session, number=number)
        _add(found, [ticket.id] if ticket else [], "number")
    _add(found, session.exec(select(Message.ticket_id).where(Message.order_number == term)), "order number")
    like = f"%{term.lower()}%"
    _add(
        found,
        session.exec(
            select(Ticket.id)
            .join(Customer, Customer.id == Ticket.customer_id)
            .where(
                or_(
                    Customer.email == term.lower(),
                    func.lower(Customer.email).like(like),
                    func.lower(Customer.name).like(like),
                )
            )
        ),
        "customer",
    )
    _add(found, fulltext_ticket_ids(session, term), "text")
    ids = list(found)[:limit]
    tickets = {t.id: t for t in session.exec(select(Ticket).where(Ticket.id.in_(ids)))} if ids else {}
    return [(tickets[i], found[i]) for i in ids if i in tickets]


def _add(found: dict[int, str], ids, why: str) -> None:
    for ticket_id in ids:
        if ticket_id is not None:
            found.setdefault(ticket_id, why)


def fulltext_ticket_ids(session: Session, term: str) -> list[int]:
    """Return the tickets whose messages contain every word of `term`, best first."""
    words = [w for w in re.findall(r"\w+", term) if w]
    if not words:
        return []
    if session.get_bind().dialect.name == "sqlite":
        # Each word quoted: FTS5 operators typed by a user are searched as text, not run.
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = session.execute(
            text(
                "SELECT message.ticket_id FROM message_fts JOIN message ON message.id = message_fts.rowid "
                "WHERE message_fts MATCH :match ORDER BY rank LIMIT :limit"
            ),
            {"match": match, "limit": FULLTEXT_LIMIT},
        )
    else:
        rows = session.execute(
            text(
                f"SELECT ticket_id FROM message WHERE {PG_DOCUMENT} @@ plainto_tsquery('simple', :q) "
                "ORDER BY id DESC LIMIT :limit"
            ),
            {"q": " ".join(words), "limit": FULLTEXT_LIMIT},
        )
    return list(dict.fromkeys(r[0] for r in rows if r[0] is not None))


def customer_history(session: Session, email: str) -> dict | None:
    """All tickets and messages of one customer, with counts and first and last contact; None if unknown."""
    customer = session.exec(select(Customer).where(Customer.email == email.strip().lower())).first()
    if customer is None:
        return None
    tickets = list(session.exec(select(Ticket).where(Ticket.customer_id == customer.id).order_by(Ticket.id)))
    messages = (
        list(
            session.exec(
                select(Message)
                .where(Message.ticket_id.in_([t.id for t in tickets]))
                .order_by(Message.stored_at, Message.id)
            )
        )
        if tickets
        else []
    )
    numbers = {t.id: t.number for t in tickets}
    inbound = [m for m in messages if m.from_addr == customer.email]
    return {
        "email": customer.email,
        "name": customer.name,
        "ticket_count": len(tickets),
        "message_count": len(messages),
        "open_ticket_count": sum(1 for t in tickets if t.status not in ("closed", "spam")),
        "first_contact": inbound[0].stored_at if inbound else None,
        "last_contact": inbound[-1].stored_at if inbound else None,
        "tickets": [
            {
                "number": t.number,
                "status": t.status,
                "subject": t.subject,
                "category": t.category,
                "created_at": t.created_at,
                "closed_at": t.closed_at,
                "linked_ticket": numbers.get(t.linked_ticket_id) if t.linked_ticket_id else None,
            }
            for t in tickets
        ],
        "messages": [
            {
                "id": m.id,
                "ticket": numbers.get(m.ticket_id),
                "direction": m.direction,
                "kind": m.kind,
                "from": m.from_addr,
                "subject": m.subject,
                "stored_at": m.stored_at,
                "threaded_by": m.match_reason,
            }
            for m in messages
        ],
    }
