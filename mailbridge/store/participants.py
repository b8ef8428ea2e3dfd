"""Store: a ticket's participants (`ticketparticipant`), the people besides the customer who get its answers in Cc.

Intake adds the To and Cc of a customer's mail (`add_from_mail`); an agent's `#cc add|remove` goes through `add` and
`remove`; a relayed answer reads `on_ticket` and `suppressed_among`. Who qualifies is decided by
`decisions.participants`. In the caller's session; never commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.kinds import EventKind
from mailbridge.decisions.own_addresses import is_ours
from mailbridge.decisions.participants import MergeCcPlan, People, cc_from_mail, cc_from_merge
from mailbridge.store import blocklist, db, tickets
from mailbridge.store.models import AddressSuppression, Agent, Customer, Ticket, TicketParticipant

_participant, _agent = db.table_of(TicketParticipant), db.table_of(Agent)
_suppression = db.table_of(AddressSuppression)
_OF_TICKET = (
    select(_participant.c.email, _participant.c.removed)
    .where(_participant.c.ticket_id == bindparam("ticket_id"))
    .order_by(_participant.c.id)
)
_AGENT_ADDRESSES = select(_agent.c.email)
_SUPPRESSED = select(_suppression.c.address).where(
    _suppression.c.address.in_(bindparam("addresses", expanding=True)), _suppression.c.until > bindparam("now")
)
_SET_REMOVED = (
    update(_participant)
    .where(_participant.c.ticket_id == bindparam("of_ticket"), _participant.c.email == bindparam("address"))
    .values(removed=bindparam("removed_now"))
)


@dataclass(frozen=True)
class OnTicket:
    """A ticket's participants: those in Cc now and those an agent removed, each in the order they were added."""

    active: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


def on_ticket(session: Session, ticket_id: int) -> OnTicket:
    """Read a ticket's participants."""
    rows = db.run(session, _OF_TICKET, {"ticket_id": ticket_id}).all()
    return OnTicket(tuple(e for e, removed in rows if not removed), tuple(e for e, removed in rows if removed))


def agent_addresses(session: Session) -> frozenset[str]:
    """Every agent's address (inactive ones too: an agent is never Cc'd as a customer's colleague); once a transaction."""
    return db.once_per_transaction(
        session,
        "participants.agents",
        lambda: frozenset(a.lower() for a in db.run(session, _AGENT_ADDRESSES).scalars()),
    )


def people(session: Session, ticket: Ticket, own: frozenset[str]) -> People:
    """Who may never be one of this ticket's participants: our addresses, agents, its customer."""
    customer = session.get(Customer, ticket.customer_id)
    assert customer is not None, "Ticket.customer_id is a NOT NULL foreign key"
    return People(own=own, agents=agent_addresses(session), customer=customer.email)


def suppressed_among(session: Session, addresses: Iterable[str], now: datetime) -> set[str]:
    """The addresses among these that get no mail now: suppressed (bounced, flooding) until later, or blocked."""
    wanted = sorted({a.lower() for a in addresses})
    if not wanted:
        return set()
    found = set(db.run(session, _SUPPRESSED, {"addresses": wanted, "now": now}).scalars())
    return found | {a for a in wanted if blocklist.find_block(session, a)}


def add(
    *, session: Session, ticket: Ticket, address: str, added_by: str, actor: str, now: datetime, name: str = ""
) -> bool:
    """Put an address in Cc of a ticket (again, after a removal), with its event; False when it was there already."""
    address = address.lower()
    statement = _INSERT[session.get_bind().dialect.name]
    values = {
        "ticket_id": ticket.id,
        "email": address,
        "name": name[:200],
        "added_by": added_by,
        "removed": False,
        "created_at": now,
    }
    written = db.run(session, statement, values).first() is not None
    if not written:
        written = db.run(session, _SET_REMOVED.where(_participant.c.removed), _removal(ticket, address, False)).rowcount
    if written:
        tickets.record_event(
            session=session, ticket=ticket, actor=actor, kind=EventKind.PARTICIPANT_ADDED, reason=address, now=now
        )
    return bool(written)


def remove(*, session: Session, ticket: Ticket, address: str, actor: str, now: datetime) -> bool:
    """Take an address out of Cc of a ticket, with its event; False when it was not in Cc."""
    address = address.lower()
    changed = db.run(session, _SET_REMOVED.where(~_participant.c.removed), _removal(ticket, address, True)).rowcount
    if changed:
        tickets.record_event(
            session=session, ticket=ticket, actor=actor, kind=EventKind.PARTICIPANT_REMOVED, reason=address, now=now
        )
    return bool(changed)


def _removal(ticket: Ticket, address: str, removed: bool) -> dict:
    return {"of_ticket": ticket.id, "address": address, "removed_now": removed}


def add_from_mail(
    *, session: Session, ticket: Ticket, parsed: ParsedMessage, own: frozenset[str], now: datetime
) -> tuple[str, ...]:
    """Add the people a customer's mail was also written to (To, Cc) to its ticket; return those added.

    Mail written to us alone (most mail) reads nothing. The ticket's customer, agents, our addresses, people an agent
    removed and suppressed addresses are left out; past MAX_PARTICIPANTS the rest is noted on the ticket.
    """
    sender = (parsed.from_addr or "").lower()
    others = [a for a in (*parsed.to_addrs, *parsed.cc_addrs) if a and a.lower() != sender and not is_ours(a, own)]
    if not others:
        return ()
    assert ticket.id is not None, "a stored ticket"
    known = on_ticket(session, ticket.id)
    plan = cc_from_mail(
        others,
        people(session, ticket, own),
        sender=sender,
        current=known.active,
        removed=known.removed,
        suppressed=suppressed_among(session, others, now),
    )
    actor = f"customer:{sender}"
    for address in plan.added:
        add(session=session, ticket=ticket, address=address, added_by="cc", actor=actor, now=now)
    if plan.over_limit:
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor=actor,
            kind=EventKind.PARTICIPANT_REFUSED,
            reason=f"not added to Cc, the ticket has the most people in Cc: {', '.join(plan.over_limit)}"[:500],
            now=now,
        )
    return plan.added


def merge_plan(session: Session, *, source: Ticket, target: Ticket, own: frozenset[str]) -> MergeCcPlan:
    """What the participants of `source` become on `target` when it is merged into it (nothing written)."""
    assert source.id is not None and target.id is not None, "stored tickets"
    of_source, of_target = on_ticket(session, source.id), on_ticket(session, target.id)
    if not of_source.active and not of_source.removed:
        return MergeCcPlan()
    return cc_from_merge(
        of_source.active,
        of_source.removed,
        people(session, target, own),
        current=of_target.active,
        removed=of_target.removed,
        same_customer=source.customer_id == target.customer_id,
    )


def join_from_merge(
    *, session: Session, source: Ticket, target: Ticket, own: frozenset[str], actor: str, now: datetime
) -> MergeCcPlan:
    """Bring the participants of `source` (merged) to `target` as `merge_plan` says; those added get their event on
    `target`, and those left out one event naming them."""
    plan = merge_plan(session, source=source, target=target, own=own)
    statement = _INSERT[session.get_bind().dialect.name]
    for address, removed in [*((a, False) for a in plan.added), *((a, True) for a in plan.removed)]:
        values = {"ticket_id": target.id, "email": address, "added_by": "merge", "removed": removed, "created_at": now}
        db.run(session, statement, values | {"name": ""})
        if not removed:
            tickets.record_event(
                session=session, ticket=target, actor=actor, kind=EventKind.PARTICIPANT_ADDED, reason=address, now=now
            )
    left_out = [*plan.over_limit, *plan.other_customer]
    if left_out:
        why = (
            "the ticket has the most people in Cc"
            if plan.over_limit
            else f"ticket {source.number} was another customer's"
        )
        tickets.record_event(
            session=session,
            ticket=target,
            actor=actor,
            kind=EventKind.PARTICIPANT_REFUSED,
            reason=f"not added to Cc from merged ticket {source.number} ({why}): {', '.join(left_out)}"[:500],
            now=now,
        )
    return plan


_INSERT = {
    dialect: make(_participant)
    .on_conflict_do_nothing(index_elements=[_participant.c.ticket_id, _participant.c.email])
    .returning(_participant.c.id)
    for dialect, make in (("sqlite", sqlite_insert), ("postgresql", postgresql_insert))
}
