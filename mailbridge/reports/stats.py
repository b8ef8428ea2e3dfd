"""Read-only queries for `mailbridge stats`: the store -> StatsFacts, for figures.compute_report.

Called by the CLI with a plain Session; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from mailbridge.base.clock import utc
from mailbridge.base.config.rules import SlaSettings
from mailbridge.base.errors import NotFoundError
from mailbridge.decisions.kinds import EventKind, MessageKind, TicketStatus
from mailbridge.reports.figures import RatingFact, StatsFacts, TicketFact
from mailbridge.store.models import Agent, Contact, Message, Rating, Ticket, TicketEvent


@dataclass(frozen=True)
class StatsFilter:
    since: datetime | None = None
    until: datetime | None = None
    contact: str | None = None  # Contact name
    agent: str | None = None  # agent address


def gather_facts(*, session: Session, filters: StatsFilter, sla: SlaSettings, now: datetime) -> StatsFacts:
    """Query the tickets, ratings, reopenings and customer messages the report needs.

    Raises: NotFoundError for an unknown Contact.
    """
    contacts = {c.id: c for c in session.exec(select(Contact))}
    contact_id = _contact_id(contacts, filters.contact)
    agents = _agent_names(session)
    conditions = []
    if contact_id is not None:
        conditions.append(Ticket.contact_id == contact_id)
    if filters.agent:
        conditions.append(func.lower(Ticket.assigned_agent) == filters.agent.lower())
    ticket_facts = tuple(
        _ticket_fact(t, contacts, agents, sla) for t in session.exec(select(Ticket).where(*conditions))
    )
    # A subquery, not a list of ids: no limit on bound parameters however many tickets there are.
    ids = select(Ticket.id).where(*conditions)
    return StatsFacts(
        tickets=ticket_facts,
        ratings=_ratings(session, ids, contacts, agents, filters),
        reopened=_reopened(session, ids, filters),
        inbound_at=_inbound(session, ids, filters),
        since=filters.since,
        until=filters.until,
        now=now,
    )


def _contact_id(contacts: dict[int, Contact], name: str | None) -> int | None:
    if name is None:
        return None
    for contact in contacts.values():
        if contact.name.lower() == name.lower():
            return contact.id
    raise NotFoundError(f"no Contact named {name!r}")


def _agent_names(session: Session) -> dict[int | str, str]:
    """Each agent's name (else address) by id and by lower-cased address: reports show people by name."""
    names: dict[int | str, str] = {}
    for agent in session.exec(select(Agent)):
        shown = agent.name.strip() or agent.email
        names[agent.email.lower()] = shown
        if agent.id is not None:
            names[agent.id] = shown
    return names


def _agent_name(agents: dict[int | str, str], agent_id: int | None, address: str | None) -> str | None:
    if agent_id is not None and agent_id in agents:
        return agents[agent_id]
    return agents.get(address.lower(), address) if address else None


def _ticket_fact(
    ticket: Ticket, contacts: dict[int, Contact], agents: dict[int | str, str], sla: SlaSettings
) -> TicketFact:
    contact = contacts[ticket.contact_id]
    return TicketFact(
        contact=contact.name,
        agent=ticket.assigned_agent,
        status=ticket.status,
        created_at=utc(ticket.created_at),
        first_response_at=utc(ticket.first_response_at),
        closed_at=utc(ticket.closed_at),
        first_response_hours=contact.first_response_hours or sla.first_response_hours,
        presale=ticket.presale,
        number=ticket.number,
        subject=ticket.subject,
        category=ticket.category,
        agent_name=_agent_name(agents, ticket.assigned_agent_id, ticket.assigned_agent),
    )


def _in_period(query, column, filters: StatsFilter):
    if filters.since is not None:
        query = query.where(column >= filters.since)
    if filters.until is not None:
        query = query.where(column < filters.until)
    return query


def _ratings(
    session: Session, ids, contacts: dict[int, Contact], agents: dict[int | str, str], filters: StatsFilter
) -> tuple[RatingFact, ...]:
    query = _in_period(
        select(Rating, Ticket.number, Ticket.category, Ticket.assigned_agent_id, Ticket.assigned_agent)
        .join(Ticket, Ticket.id == Rating.ticket_id)
        .where(Rating.replaced_at.is_(None), Rating.ticket_id.in_(ids)),
        Rating.created_at,
        filters,
    )
    # The agent assigned when the rating came, else the one assigned now.
    return tuple(
        RatingFact(
            contact=contacts[r.contact_id].name,
            agent=_agent_name(agents, r.agent_id, None) or _agent_name(agents, assigned_id, assigned),
            score=r.score,
            ticket=number,
            comment=r.comment,
            at=utc(r.created_at),
            category=category,
        )
        for r, number, category, assigned_id, assigned in session.exec(query)
    )


def _reopened(session: Session, ids, filters: StatsFilter) -> int:
    query = (
        select(func.count())
        .select_from(TicketEvent)
        .where(
            TicketEvent.ticket_id.in_(ids),
            TicketEvent.kind == EventKind.STATUS_CHANGED,
            TicketEvent.old_status == TicketStatus.CLOSED,
            TicketEvent.new_status == TicketStatus.OPEN,
        )
    )
    return session.exec(_in_period(query, TicketEvent.at, filters)).one()


def _inbound(session: Session, ids, filters: StatsFilter) -> tuple[datetime, ...]:
    query = select(Message.stored_at).where(
        Message.ticket_id.in_(ids), Message.direction == "in", Message.kind == MessageKind.CUSTOMER
    )
    return tuple(utc(at) for at in session.exec(_in_period(query, Message.stored_at, filters)))
