"""Store: the Message-IDs stored inbound mail answers (`messagereference`), written by intake with each message and
read by `tickets.gather_thread_evidence`: the tickets of one Contact whose stored mail is a copy of a new message,
names it, or shares a reference with it, and whether its sender may join them. `look_ahead` answers, for a whole
intake batch in one query, which of its ids no stored mail has or names, so most messages need none of these
lookups. In the caller's session; never commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import (
    ColumnElement,
    Row,
    String,
    bindparam,
    cast,
    exists,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlmodel import Session

from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.kinds import MessageKind
from mailbridge.decisions.matching.ticket_match import RelatedTicket, thread_links
from mailbridge.store import db
from mailbridge.store.models import Customer, Message, MessageReference, Ticket, TicketParticipant

# Rows read per lookup and tickets kept per rule: an id that thousands of list mails reference stays one bounded read.
LINK_ROWS = 50
TICKETS_PER_RULE = 5
SAME_ID, REFERENCING, SHARING = 0, 1, 2

_message, _ticket, _link = db.table_of(Message), db.table_of(Ticket), db.table_of(MessageReference)
_customer, _participant = db.table_of(Customer), db.table_of(TicketParticipant)
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


def takes_part(ticket_id: ColumnElement[int]) -> ColumnElement[bool]:
    """SQL: the bound `sender` (lower-cased; None matches nothing) is on the customer side of ticket `ticket_id`.

    That is its customer, one of the people in Cc of it (store.participants), or the sender of a customer message on
    it. Agents are not found by their From here: an agent is proven by the signed reply address (the token rule),
    never by a From line, so a forged agent address makes no stranger a participant. Also a column of `tickets`' lookup by Message-ID, which then needs no second statement.
    """
    customer_of = _ticket.alias("customer_of")
    sender_message = _message.alias("sender_message")
    return or_(
        exists().where(
            customer_of.c.id == ticket_id,
            customer_of.c.customer_id
            == select(_customer.c.id).where(_customer.c.email == bindparam("sender")).scalar_subquery(),
        ),
        exists().where(
            sender_message.c.ticket_id == ticket_id,
            sender_message.c.from_addr == bindparam("sender"),
            sender_message.c.kind == MessageKind.CUSTOMER,
        ),
        exists().where(
            _participant.c.ticket_id == ticket_id,
            _participant.c.email == bindparam("sender"),
            ~_participant.c.removed,
        ),
    )


# The tickets among `ids` that `sender` takes part in as the customer's side.
_TAKING_PART = select(_ticket.c.id).where(_ticket.c.id.in_(bindparam("ids", expanding=True)), takes_part(_ticket.c.id))


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
    """Write the Message-IDs a stored inbound message answers, so later mail finds it by them.

    Intake calls it for every inbound message it stores with its Message-ID, so the batch's look-ahead learns both.
    """
    links = thread_links(parsed)
    seen = session.info.get(_SEEN_KEY)
    if seen is not None:
        seen.note(parsed.message_id, links)
    if links:
        db.run(session, _INSERT_LINKS, [{"referenced_id": i, "message_row_id": message_row_id} for i in links])


# Ids read by one look-ahead at most: a batch is 50 messages of up to 51 ids each; past that, mail is looked up alone.
LOOK_AHEAD_IDS = 3000
_SEEN_KEY = "thread_links.seen"


@dataclass
class _Seen:
    """What one transaction knows of some Message-IDs: which were looked up, and of those which stored inbound mail
    carries (a copy may be stored) and which stored mail names (in messagereference). Kept current by `record`."""

    checked: set[str] = field(default_factory=set)
    inbound: set[str] = field(default_factory=set)
    named: set[str] = field(default_factory=set)

    def note(self, message_id: str | None, links: Iterable[str]) -> None:
        """Take in an inbound message stored in this transaction: its Message-ID, and the ids it names."""
        if message_id:
            self.inbound.add(message_id)
        self.named.update(links)


def _stored_ids(ids: str):
    """Which of `ids` stored inbound mail carries (rule SAME_ID) and which stored mail names (REFERENCING)."""
    carried = select(literal(SAME_ID).label("rule"), _message.c.message_id.label("id")).where(
        _message.c.message_id.in_(bindparam(ids, expanding=True)), _message.c.direction == "in"
    )
    named = select(literal(REFERENCING).label("rule"), _link.c.referenced_id.label("id")).where(
        _link.c.referenced_id.in_(bindparam(ids, expanding=True))
    )
    return union_all(carried.distinct(), named.distinct())


_STORED_IDS = _stored_ids("ids")


def look_ahead(session: Session, batch: Iterable[ParsedMessage]) -> None:
    """Look up at once, for the messages of one intake batch, which of their ids stored mail carries or names.

    `may_be_stored` and `find_related` then skip the lookups of a message whose ids none has: most new mail. Rows
    written later in this transaction are noted by `record`, so a reply and its parent in one batch still meet.
    """
    seen = session.info.setdefault(_SEEN_KEY, _Seen())
    ids: set[str] = set()
    for parsed in batch:
        own = (parsed.message_id,) if parsed.message_id else ()
        ids.update(i for i in (*own, *thread_links(parsed)) if i not in seen.checked)
        if len(ids) > LOOK_AHEAD_IDS:
            break
    if not ids:
        return
    for rule, found in db.run(session, _STORED_IDS, {"ids": sorted(ids)}):
        (seen.inbound if rule == SAME_ID else seen.named).add(found)
    seen.checked.update(ids)


def _known_absent(session: Session, *, carried: Iterable[str] = (), named: Iterable[str] = ()) -> bool:
    """Tell whether the batch's look-ahead proves that no stored inbound mail carries any of `carried` and no stored
    mail names any of `named`; False when it cannot tell (an id it did not look up, or no look-ahead)."""
    seen = session.info.get(_SEEN_KEY)
    if seen is None:
        return False
    carried, named = tuple(carried), tuple(named)
    if any(i not in seen.checked for i in (*carried, *named)):
        return False
    return not any(i in seen.inbound for i in carried) and not any(i in seen.named for i in named)


def may_be_stored(session: Session, message_id: str) -> bool:
    """Tell whether inbound mail with this Message-ID may be stored (False only when the look-ahead proved none is)."""
    return not _known_absent(session, carried=(message_id,))


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
    own = (parsed.message_id,) if parsed.message_id else ()
    if _known_absent(session, carried=own, named=(*own, *answers)):
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
