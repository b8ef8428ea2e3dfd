"""Store operations on tickets, inside the caller's session: evidence for threading, customers,
new tickets, and applying a Transition with its audit event. Never commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, insert, literal, union_all
from sqlalchemy import select as core_select  # sqlmodel's select types at most four columns
from sqlmodel import Session, col, select

from mailbridge.base.clock import utc
from mailbridge.base.config.settings import Secret
from mailbridge.base.errors import NotFoundError
from mailbridge.decisions.inbound.names import next_display_name, safe_display_name
from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.kinds import EventKind, MessageKind, TicketStatus
from mailbridge.decisions.lifecycle import Transition, plan_status_change
from mailbridge.decisions.matching.reply_tokens import tokens_in, verify_token
from mailbridge.decisions.matching.ticket_match import (
    DEFAULT_REOPEN_WINDOW_DAYS,
    NumberedTicket,
    RelatedTicket,
    StoredCopy,
    ThreadEvidence,
    TicketState,
    normalise_subject,
)
from mailbridge.decisions.matching.ticket_numbers import find_subject_numbers, is_valid_ticket_number, new_ticket_number
from mailbridge.decisions.own_addresses import is_ours
from mailbridge.store import db, merges, thread_links
from mailbridge.store.models import (
    Agent,
    Attachment,
    Customer,
    Message,
    OutboxMail,
    Ticket,
    TicketEvent,
    TicketParticipant,
)

UNKNOWN_SENDER = "unknown-sender@invalid"
# The reference line of drafts.reference_line, also when quoted ("> Ticket: [#...]").
BODY_REFERENCE = re.compile(r"Ticket:\s*\[#(\d{11})\]")
BODY_SCAN_CHARS = 200_000
CONTACT_CANDIDATES = 5


# Built once and reused for every message (SQLAlchemy caches their compiled form). Most are Core statements
# on the tables: they skip the ORM layer and do not autoflush, so each reads only rows that are flushed
# already (customers, tickets and messages are flushed as they are created).
_message, _ticket, _customer = db.table_of(Message), db.table_of(Ticket), db.table_of(Customer)
_COPIES = (
    select(_message.c.id, _message.c.ticket_id, _ticket.c.contact_id)
    .join(_ticket, _ticket.c.id == _message.c.ticket_id)
    .where(
        _message.c.message_id == bindparam("message_id"),
        _message.c.direction == "in",
        _message.c.from_addr == bindparam("from_addr"),
        _message.c.subject == bindparam("subject"),
        _message.c.text_body == bindparam("text_body"),
    )
    .order_by(_message.c.id)
)
_CONTACT_TICKETS = (
    select(_ticket.c.id)
    .join(_customer, _customer.c.id == _ticket.c.customer_id)
    .where(
        _customer.c.email == bindparam("email"),
        _ticket.c.contact_id == bindparam("contact_id"),
        _ticket.c.subject_key == bindparam("key"),
    )
    .order_by(_ticket.c.id.desc())
    .limit(CONTACT_CANDIDATES)
)
_KIND_OF = select(_message.c.kind).where(_message.c.id == bindparam("id"))
_ATTACHMENT_DIGESTS = select(db.table_of(Attachment).c.sha256).where(
    db.table_of(Attachment).c.message_id == bindparam("id")
)
_CUSTOMER_BY_EMAIL = select(Customer).where(Customer.email == bindparam("email"))  # ORM: the identity map
_INSERT_EVENT = insert(db.table_of(TicketEvent))
# Stored mail and our own mail, in this order: a Message-ID a reply names, the ticket it belongs to, whom that mail
# was written to, and whether the reply's sender is on the ticket's customer side; one statement.
_outbox = db.table_of(OutboxMail)
_TICKETS_BY_MESSAGE_ID = union_all(
    core_select(
        literal(0).label("source"),
        _message.c.message_id,
        _message.c.ticket_id,
        _message.c.to_addrs,
        _message.c.cc_addrs,
        thread_links.takes_part(_message.c.ticket_id).label("takes_part"),
    ).where(_message.c.message_id.in_(bindparam("ids", expanding=True)), _message.c.ticket_id.is_not(None)),
    core_select(
        literal(1).label("source"),
        _outbox.c.message_id,
        _outbox.c.ticket_id,
        _outbox.c.rcpt_to,
        literal(""),
        thread_links.takes_part(_outbox.c.ticket_id).label("takes_part"),
    ).where(_outbox.c.message_id.in_(bindparam("ids", expanding=True)), _outbox.c.ticket_id.is_not(None)),
).order_by("source")


def find_copies(*, session: Session, parsed: ParsedMessage) -> tuple[StoredCopy, ...]:
    """Find its twins on a ticket: stored mail with the same Message-ID, sender, subject and text (indexed by Message-ID).

    Copies of one mail delivered to two mailboxes differ only in trace headers; different mails that share
    a Message-ID (broken senders do that) may differ only in their attachments (`twin_facts` tells). Neither is
    "already stored": intake stores a twin on its twin's ticket.
    """
    if not parsed.message_id or not thread_links.may_be_stored(session, parsed.message_id):
        return ()
    rows = db.run(
        session,
        _COPIES,
        {
            "message_id": parsed.message_id,
            "from_addr": parsed.from_addr,
            "subject": parsed.subject,
            "text_body": parsed.text_body,
        },
    )
    return tuple(StoredCopy(row_id, ticket_id, contact_id) for row_id, ticket_id, contact_id in rows)


def twin_facts(*, session: Session, message_row_id: int) -> tuple[str, tuple[str, ...]]:
    """Return a stored message's kind and the sorted SHA-256 digests of the attachments kept with it."""
    kind = db.run(session, _KIND_OF, {"id": message_row_id}).scalar_one()
    digests = db.run(session, _ATTACHMENT_DIGESTS, {"id": message_row_id}).scalars()
    return kind, tuple(sorted(digests))


def gather_thread_evidence(
    *,
    session: Session,
    parsed: ParsedMessage,
    pattern: re.Pattern[str],
    now: datetime | None = None,
    secret: Secret | None = None,
    support_addresses: frozenset[str] = frozenset(),
    contact_id: int | None = None,
    reopen_window_days: int = DEFAULT_REOPEN_WINDOW_DAYS,
    previous_secrets: tuple[Secret, ...] = (),
) -> ThreadEvidence:
    """Look up the tokens, ids, ticket numbers and subject a message mentions; every lookup is indexed.

    A reply token signed with one of `previous_secrets` (retired by `secret rotate`) counts as one signed with `secret`.
    """
    token_ids = _token_tickets(session, parsed, secret, support_addresses, previous_secrets)
    known = _tickets_by_message_id(session, parsed, support_addresses)
    numbered = _numbered(session, find_subject_numbers(parsed.subject, pattern))
    body_numbers = tuple(
        n for n in BODY_REFERENCE.findall(parsed.text_body[:BODY_SCAN_CHARS]) if is_valid_ticket_number(n)
    )
    referenced = _numbered(session, body_numbers)
    by_contact = _contact_tickets(session, parsed, pattern, contact_id)
    related = thread_links.find_related(session=session, parsed=parsed, contact_id=contact_id, known=known.keys())
    ids = {
        *token_ids,
        *(r.ticket_id for r in known.values()),
        *(n.ticket_id for n in (*numbered, *referenced)),
        *(r.ticket_id for r in (*related.same_id, *related.referencing, *related.sharing)),
        *by_contact,
    }
    # A merged ticket stands for the one it joined: its state decides, so it is read too.
    merged_into = merges.final_targets(session, ids) if ids else {}
    ids.update(merged_into.values())
    states: dict[int, TicketState] = {}
    if ids:
        for ticket_id, status, closed_at in session.exec(
            select(Ticket.id, Ticket.status, Ticket.closed_at).where(col(Ticket.id).in_(ids))
        ):
            assert ticket_id is not None, "a primary key"
            states[ticket_id] = TicketState(status, utc(closed_at))
    return ThreadEvidence(
        tickets_by_message_id=known,
        numbered_tickets=numbered,
        token_ticket_ids=token_ids,
        body_referenced_tickets=referenced,
        contact_ticket_ids=by_contact,
        same_id_tickets=related.same_id,
        referencing_tickets=related.referencing,
        sharing_tickets=related.sharing,
        states=states,
        now=now,
        reopen_window_days=reopen_window_days,
        merged_into=merged_into,
    )


def _token_tickets(
    session: Session,
    parsed: ParsedMessage,
    secret: Secret | None,
    support_addresses: frozenset[str],
    previous_secrets: tuple[Secret, ...] = (),
) -> tuple[int, ...]:
    if secret is None:
        return ()
    recipients = (
        *parsed.to_addrs,
        *parsed.cc_addrs,
        *(parsed.headers.get(h, "") for h in ("delivered-to", "x-original-to")),
    )
    found = []
    for token in tokens_in(tuple(r.strip().strip("<>") for r in recipients if r), support_addresses):
        claims = verify_token(token, secret.value, previous_secrets=[s.value for s in previous_secrets])
        if claims is not None and session.get(Ticket, claims.ticket_id) is not None:
            found.append(claims.ticket_id)
    return tuple(found)


def _tickets_by_message_id(
    session: Session, parsed: ParsedMessage, ours: frozenset[str] = frozenset()
) -> dict[str, RelatedTicket]:
    """The tickets of the stored mail (ours or received) a message answers, by Message-ID.

    Each with its participants for this sender: whom that mail was written to (To, Cc; our mail's recipients; never
    one of `ours`, our own addresses and their sub-addresses), and the sender when they are on the ticket's customer
    side (thread_links.takes_part, a column of the same statement).
    """
    ids = [i for i in (parsed.in_reply_to, *parsed.references) if i]
    if not ids:
        return {}
    sender = (parsed.from_addr or "").lower()
    found: dict[str, RelatedTicket] = {}
    # An empty sender matches no one (NULL equals nothing).
    for _, message_id, ticket_id, to_addrs, cc_addrs, takes_part in db.run(
        session, _TICKETS_BY_MESSAGE_ID, {"ids": ids, "sender": sender or None}
    ):
        if message_id not in found:
            addressed = {a for a in thread_links.addressed(to_addrs, cc_addrs) if not is_ours(a, ours)}
            found[message_id] = RelatedTicket(ticket_id, frozenset({*addressed, *((sender,) if takes_part else ())}))
    return found


def _numbered(session: Session, numbers: tuple[str, ...]) -> tuple[NumberedTicket, ...]:
    found = []
    for number in dict.fromkeys(numbers):
        ticket = find_ticket(session=session, number=number)
        if ticket is not None:
            assert ticket.id is not None, "a stored row"
            found.append(NumberedTicket(ticket.id, participants(session=session, ticket=ticket)))
    return tuple(found)


def _contact_tickets(
    session: Session, parsed: ParsedMessage, pattern: re.Pattern[str], contact_id: int | None
) -> tuple[int, ...]:
    key = normalise_subject(parsed.subject, pattern)
    # An empty subject says nothing about the conversation: no matching by subject then.
    if contact_id is None or not parsed.from_addr or not key:
        return ()
    email = parsed.from_addr.lower()
    if _no_customer(session, email):
        return ()
    return tuple(db.run(session, _CONTACT_TICKETS, {"email": email, "contact_id": contact_id, "key": key}).scalars())


# The customers among an intake batch's senders, looked up once (`look_ahead_customers`); `ensure_customer`, the only
# code that creates a customer, adds each new one, so later mail of the batch finds it.
_CUSTOMERS_KEY = "tickets.customers"
_KNOWN_CUSTOMERS = select(_customer.c.email).where(_customer.c.email.in_(bindparam("emails", expanding=True)))


@dataclass
class _Customers:
    checked: set[str] = field(default_factory=set)  # addresses looked up
    known: set[str] = field(default_factory=set)  # of those, the ones a customer has


def look_ahead_customers(session: Session, batch: Iterable[ParsedMessage]) -> None:
    """Look up at once which senders of an intake batch are customers: mail from a new one has no ticket to join by
    its subject, so it needs no lookup (most mail of a large sync)."""
    seen = session.info.setdefault(_CUSTOMERS_KEY, _Customers())
    emails = {parsed.from_addr.lower() for parsed in batch if parsed.from_addr} - seen.checked
    if emails:
        seen.known.update(db.run(session, _KNOWN_CUSTOMERS, {"emails": sorted(emails)}).scalars())
        seen.checked.update(emails)


def _no_customer(session: Session, email: str) -> bool:
    """Tell whether the batch's look-ahead proved that no customer has this address (False: it cannot tell)."""
    seen = session.info.get(_CUSTOMERS_KEY)
    return seen is not None and email in seen.checked and email not in seen.known


def participants(*, session: Session, ticket: Ticket) -> frozenset[str]:
    """Return the addresses on a ticket's customer side: its customer, the people in Cc of it and every sender of a
    customer message on it.

    Agents are not among them: an agent is proven by the signed reply address (the token rule wins before any rule
    that asks for participants), never by a From line, so a forged agent address makes no stranger a participant.
    """
    customer = session.get(Customer, ticket.customer_id)
    assert customer is not None, "Ticket.customer_id is a NOT NULL foreign key"
    senders = session.exec(
        select(Message.from_addr).where(Message.ticket_id == ticket.id, Message.kind == MessageKind.CUSTOMER).distinct()
    )
    # The people in Cc of it (store.participants) reply to its answers: a ticket number in the subject counts for them.
    cc = session.exec(
        select(TicketParticipant.email).where(TicketParticipant.ticket_id == ticket.id, ~col(TicketParticipant.removed))
    )
    return frozenset({customer.email, *(s.lower() for s in senders if s), *cc})


def find_ticket(*, session: Session, number: str) -> Ticket | None:
    """Find the ticket with this number ("#" and spaces around it ignored), or None."""
    return session.exec(select(Ticket).where(Ticket.number == number.strip().lstrip("#"))).first()


def get_ticket(*, session: Session, number: str) -> Ticket:
    """Return the ticket with this number. Raises: NotFoundError when no ticket has it."""
    ticket = find_ticket(session=session, number=number)
    if ticket is None:
        raise NotFoundError(f"no ticket with number {number}")
    return ticket


def ensure_customer(
    *,
    session: Session,
    email: str | None,
    name: str,
    now: datetime,
    locale: str | None = None,
    name_is_authenticated: bool = False,
) -> Customer:
    """Find the customer by address or create one (with `locale`, when given).

    The name kept is safe to greet with (`names.safe_display_name`): the first one, changed only by a mail our
    receiving server authenticated (`name_is_authenticated`), since anyone can write a From with this address.
    """
    address = (email or UNKNOWN_SENDER).lower()
    # Written first (one statement for a new customer); an address that is taken writes nothing, and is read.
    customer = Customer(email=address, name=safe_display_name(name), created_at=now, locale=locale)
    if db.insert_unless_taken(session, customer, "email"):
        seen = session.info.get(_CUSTOMERS_KEY)
        if seen is not None:
            seen.known.add(address)
        return customer
    customer = session.scalars(_CUSTOMER_BY_EMAIL, {"email": address}).one()
    kept = next_display_name(customer.name, name, authenticated=name_is_authenticated)
    if kept != customer.name:
        customer.name = kept
    return customer


def has_tickets(*, session: Session, customer: Customer) -> bool:
    """Tell whether the customer has any ticket yet (the pre-sale flag counts only a first contact)."""
    if customer.id is None:
        return False
    return session.exec(select(Ticket.id).where(Ticket.customer_id == customer.id).limit(1)).first() is not None


def open_ticket(
    *,
    session: Session,
    contact_id: int,
    customer: Customer,
    subject: str,
    now: datetime,
    subject_key: str = "",
    category: str | None = None,
    linked_ticket_id: int | None = None,
    presale: bool = False,
) -> Ticket:
    """Create a ticket with a fresh random number that no other ticket has."""
    assert customer.id is not None, "a stored customer"
    ticket = Ticket(
        number=new_ticket_number(),
        status=TicketStatus.NEW,
        subject=subject[:500],
        contact_id=contact_id,
        customer_id=customer.id,
        created_at=now,
        updated_at=now,
        status_changed_at=now,
        subject_key=subject_key[:500],
        category=category,
        linked_ticket_id=linked_ticket_id,
        presale=presale,
    )
    # A number another ticket has (about one in 10**9 per ticket stored) writes nothing: draw again.
    while not db.insert_unless_taken(session, ticket, "number"):
        ticket.number = new_ticket_number()
    reason = "ticket opened"
    if linked_ticket_id is not None:
        linked = session.get(Ticket, linked_ticket_id)
        assert linked is not None, "linked_ticket_id is a foreign key of the ticket just written"
        reason = f"ticket opened; follows closed ticket {linked.number}"
    record_event(
        session=session,
        ticket=ticket,
        actor=f"customer:{customer.email}",
        kind=EventKind.CREATED,
        reason=reason,
        new_status=ticket.status,
        now=now,
    )
    return ticket


def apply(*, session: Session, ticket: Ticket, transition: Transition, actor: str, now: datetime) -> None:
    """Apply a transition's status change, with its event."""
    if ticket.updated_at != now:
        ticket.updated_at = now  # unchanged for a ticket opened by this very message: no UPDATE
    if transition.new_status is None or transition.new_status == ticket.status:
        return
    old = ticket.status
    ticket.status = transition.new_status
    ticket.status_changed_at = now
    ticket.closed_at = now if transition.new_status == TicketStatus.CLOSED else None
    if transition.new_status == TicketStatus.WAITING and actor.startswith("agent:"):
        # `waiting` means an agent answered; the answer is the first response.
        record_response(ticket=ticket, actor=actor, now=now)
    record_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind=EventKind.STATUS_CHANGED,
        reason=transition.reason,
        old_status=old,
        new_status=ticket.status,
        now=now,
    )


def record_response(*, ticket: Ticket, actor: str, now: datetime) -> None:
    """Note a person's first answer for the SLA; automatic mail ("system") never counts."""
    if ticket.first_response_at is None and actor != "system":
        ticket.first_response_at = now


def assign_agent(*, session: Session, ticket: Ticket, agent: Agent, actor: str, reason: str, now: datetime) -> None:
    """Give the ticket to `agent` and record it on the ticket's trail."""
    ticket.assigned_agent_id, ticket.assigned_agent = agent.id, agent.email
    record_event(session=session, ticket=ticket, actor=actor, kind=EventKind.ASSIGNED, reason=reason, now=now)


def take(
    session: Session,
    ticket: Ticket,
    actor: str,
    now: datetime,
    target: TicketStatus = TicketStatus.OPEN,
    reason: str = "",
    answered: bool = False,
) -> Transition:
    """Move a ticket to `target` for an agent (default: open, "an agent took it"); return what to send.

    `answered`: the move comes with an answer to the customer (lifecycle.plan_status_change).

    Raises: CommandError when the change is not allowed.
    """
    transition = plan_status_change(TicketStatus(ticket.status), target, reason=reason, answered=answered)
    apply(session=session, ticket=ticket, transition=transition, actor=actor, now=now)
    return transition


def record_event(
    *,
    session: Session,
    ticket: Ticket,
    actor: str,
    kind: str,
    reason: str,
    now: datetime,
    old_status: str | None = None,
    new_status: str | None = None,
) -> None:
    """Append one entry to the ticket's audit trail (written at once; nothing reads it back as an object)."""
    db.run(
        session,
        _INSERT_EVENT,
        {
            "ticket_id": ticket.id,
            "at": now,
            "actor": actor,
            "kind": kind,
            "reason": reason,
            "old_status": old_status,
            "new_status": new_status,
        },
    )
