"""Store: the Message-IDs stored inbound mail answers (`messagereference`), written by intake with each message and
read by `tickets.gather_thread_evidence`: the tickets of one Contact whose stored mail is a copy of a new message,
names it, or shares a reference with it, and whether its sender may join them. In the caller's session; never commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Row, String, bindparam, cast, exists, insert, literal, null, or_, select, union_all
from sqlmodel import Session

from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.kinds import MessageKind
from mailbridge.decisions.matching.ticket_match import RelatedTicket, thread_links
from mailbridge.store import db
from mailbridge.store.models import Customer, Message, MessageReference, Ticket

# Rows read per lookup and tickets kept per rule: an id that thousands of list mails reference stays one bounded read.
LINK_ROWS = 50
TICKETS_PER_RULE = 5
SAME_ID, REFERENCING, SHARING = 0, 1, 2

_message, _ticket, _link = db.table_of(Message), db.table_of(Ticket), db.table_of(MessageReference)
_customer = db.table_of(Customer)
_INSERT_LINKS = insert(_link)


def _linked(rule: int, ids: str, *, one: bool = False):
    """Stored mail of this Contact naming any of `ids` (one: the single id `ids`; the primary key leads with the id);
    newest first."""
    named = (
        _link.c.referenced_id == bindparam(ids) if one else _link.c.referenced_id.in_(bindparam(ids, expanding=True))
    )
    return (
        select(
            literal(rule).label("rule"),
            _link.c.referenced_id,
            _message.c.ticket_id,
            _message.c.kind,
            _message.c.to_addrs,
            _message.c.cc_addrs,
        )
        .join(_message, _message.c.id == _link.c.message_row_id)
        .join(_ticket, _ticket.c.id == _message.c.ticket_id)
        .where(named, _ticket.c.contact_id == bindparam("contact"))
        .order_by(_link.c.message_row_id.desc())
        .limit(LINK_ROWS)
        .subquery()
    )


_SAME_ID = (
    select(
        literal(SAME_ID).label("rule"),
        cast(null(), String).label("referenced_id"),
        _message.c.ticket_id,
        _message.c.kind,
        _message.c.to_addrs,
        _message.c.cc_addrs,
    )
    .join(_ticket, _ticket.c.id == _message.c.ticket_id)
    .where(
        _message.c.message_id == bindparam("message_id"),
        _message.c.direction == "in",
        _ticket.c.contact_id == bindparam("contact"),
    )
    .order_by(_message.c.id)
    .limit(LINK_ROWS)
    .subquery()
)
# One round trip for the three rules, each bounded on its own so a much-referenced id cannot crowd out the others.
# Most new mail answers nothing unknown: then the statement without the expanding IN of the third rule (no SQL to
# render per call).
_RELATED_TO_IT = union_all(*(select(*q.c) for q in (_SAME_ID, _linked(REFERENCING, "own", one=True))))
_RELATED = union_all(
    *(select(*q.c) for q in (_SAME_ID, _linked(REFERENCING, "own", one=True), _linked(SHARING, "answers")))
)
# The tickets among `ids` that `sender` takes part in as the customer's side: its customer, or the sender of a
# customer message on it. Agents are not found by their From here: an agent is proven by the signed reply address
# (the token rule), never by a From line, so a forged agent address makes no stranger a participant.
_TAKING_PART = select(_ticket.c.id).where(
    _ticket.c.id.in_(bindparam("ids", expanding=True)),
    or_(
        _ticket.c.customer_id
        == select(_customer.c.id).where(_customer.c.email == bindparam("sender")).scalar_subquery(),
        exists().where(
            _message.c.ticket_id == _ticket.c.id,
            _message.c.from_addr == bindparam("sender"),
            _message.c.kind == MessageKind.CUSTOMER,
        ),
    ),
)


def taking_part(session: Session, ticket_ids: Collection[int], sender: str) -> set[int]:
    """The tickets among `ticket_ids` whose customer side `sender` is on (see _TAKING_PART); one indexed query."""
    if not ticket_ids or not sender:
        return set()
    return set(db.run(session, _TAKING_PART, {"ids": list(ticket_ids), "sender": sender.lower()}).scalars())


@dataclass(frozen=True)
class RelatedMail:
    """The tickets of one Contact that stored mail links to a new message, each list in the order rules try them."""

    same_id: tuple[RelatedTicket, ...] = ()  # a copy of it: the same Message-ID, other bytes
    referencing: tuple[RelatedTicket, ...] = ()  # names it in In-Reply-To or References; newest mail first
    sharing: tuple[RelatedTicket, ...] = ()  # names an id it answers that is not stored; its newest first


def record(*, session: Session, message_row_id: int, parsed: ParsedMessage) -> None:
    """Write the Message-IDs a stored inbound message answers, so later mail finds it by them."""
    links = thread_links(parsed)
    if links:
        db.run(session, _INSERT_LINKS, [{"referenced_id": i, "message_row_id": message_row_id} for i in links])


def find_related(
    *, session: Session, parsed: ParsedMessage, contact_id: int | None, known: Collection[str] = ()
) -> RelatedMail:
    """Find the tickets of this Contact whose stored mail is a copy of this message, names it, or shares a reference.

    A shared reference counts only when it is not `known` (stored mail or ours: the References rule has it), which
    also spares a lookup per id for every ordinary reply. Each ticket's participants are whom the linking mail was written to (To, Cc), plus the sender when they take part
    in the ticket: the decision needs no other address, so no other is read.
    """
    answers = tuple(i for i in thread_links(parsed) if i not in known)
    if contact_id is None or not (parsed.message_id or answers):
        return RelatedMail()
    params = {"message_id": parsed.message_id, "own": parsed.message_id or "", "contact": contact_id}
    if answers:
        rows = db.run(session, _RELATED, {**params, "answers": list(answers)}).all()
    else:
        rows = db.run(session, _RELATED_TO_IT, params).all()
    if not rows:
        return RelatedMail()
    sender = (parsed.from_addr or "").lower()
    ids = list({row.ticket_id for row in rows})
    on_ticket = taking_part(session, ids, sender)
    rank = {message_id: position for position, message_id in enumerate(answers)}
    # Stable: within one id the newest mail stays first.
    sharing = sorted((row for row in rows if row.rule == SHARING), key=lambda row: rank[row.referenced_id])
    return RelatedMail(
        _tickets([row for row in rows if row.rule == SAME_ID], sender, on_ticket, is_copy=True),
        _tickets([row for row in rows if row.rule == REFERENCING], sender, on_ticket, is_copy=False),
        _tickets(sharing, sender, on_ticket, is_copy=False),
    )


def _tickets(rows: Sequence[Row], sender: str, taking_part: set[int], *, is_copy: bool) -> tuple[RelatedTicket, ...]:
    """One RelatedTicket per ticket, in the order of `rows`, at most TICKETS_PER_RULE.

    A copy has the sender of the mail it copies, so only mail linked by its references adds whom it was written to.
    """
    people_of: dict[int, set[str]] = {}
    customer_copies: set[int] = set()
    for row in rows:
        people = people_of.setdefault(row.ticket_id, {sender} if row.ticket_id in taking_part else set())
        if not is_copy:
            people.update(addressed(row.to_addrs, row.cc_addrs))
        elif row.kind == MessageKind.CUSTOMER:
            customer_copies.add(row.ticket_id)
    return tuple(
        RelatedTicket(ticket_id, frozenset(people_of[ticket_id]), ticket_id in customer_copies)
        for ticket_id in _first(row.ticket_id for row in rows)
    )


def _first(ticket_ids: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(ticket_ids))[:TICKETS_PER_RULE]


def addressed(*headers: str | None) -> set[str]:
    """The lower-cased addresses of comma-separated address headers (To, Cc) as stored."""
    return {a.strip().lower() for header in headers for a in (header or "").split(",") if a.strip()}
