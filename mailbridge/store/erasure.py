"""Store: the writes of retention and erasure. A ticket loses its raw mail (`purge_ticket_raw`) or is anonymised as a
whole (`anonymise_ticket`); a person's rows are anonymised everywhere (`erase_person`). Every erasure leaves an
`Erasure` row (`record_erasure`) that never holds the address.

Ticket rows stay (numbers, statuses, times, rating scores: the statistics), their content goes. Full text follows
the rows: SQLite's message_fts triggers fire on the subject and body updates, PostgreSQL's index is on the row.
Raw mail files are deleted inside the transaction (`remove_raw_files`): when the commit fails, the next run finds
the row still naming the file and finishes the job; the other order could leave a file nobody points at.
Callers (`runtime.retention`, `runtime.erasure`) own the transaction; nothing here commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, or_
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from mailbridge.base.clock import utc
from mailbridge.decisions.held_answers import HeldState
from mailbridge.decisions.kinds import Direction, EventKind, OutboxStatus
from mailbridge.decisions.retention import ERASED_SUBJECT, FINISHED, ErasureCounts, TicketAge, pseudonym_of, redact
from mailbridge.store import db
from mailbridge.store.models import (
    AddressSuppression,
    Agent,
    Attachment,
    BlockedSender,
    Customer,
    Erasure,
    HeldAnswer,
    Message,
    OutboxMail,
    Rating,
    ShopCache,
    ShopWait,
    Ticket,
    TicketEvent,
    TicketParticipant,
)

UNSENT = (OutboxStatus.QUEUED, OutboxStatus.SENDING)


@dataclass(frozen=True)
class Person:
    """What we hold about one address: their customer row and tickets, and the messages they sent elsewhere."""

    address: str  # lower-cased
    customer_id: int | None
    ticket_ids: tuple[int, ...]
    message_ids: tuple[int, ...]  # every message on their tickets, and those from them on other tickets


@dataclass(frozen=True)
class Removal:
    """What one change removed, and the raw mail files it leaves unreferenced (deleted by `remove_raw_files`)."""

    counts: ErasureCounts
    raw_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerCopy:
    """Where a stored message came from on an IMAP server."""

    mailbox: str
    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None


def server_copies(session: Session, message_ids: tuple[int, ...]) -> list[ServerCopy]:
    """The IMAP sources of these messages (mail from files and mail we wrote have none)."""
    statement = sql_select(
        col(Message.mailbox), col(Message.folder), col(Message.uidvalidity), col(Message.uid), col(Message.message_id)
    ).where(
        col(Message.id).in_(message_ids),
        col(Message.direction) == Direction.INBOUND,
        col(Message.folder).is_not(None),
        col(Message.uid).is_not(None),
    )
    return [
        ServerCopy(mailbox, folder, uidvalidity, uid, message_id)
        for mailbox, folder, uidvalidity, uid, message_id in db.run(session, statement)
        if mailbox and folder and uid
    ]


def find_person(session: Session, address: str) -> Person | None:
    """The rows of one address, or None when we hold nothing about it."""
    address = address.strip().lower()
    customer = session.exec(select(Customer).where(Customer.email == address)).first()
    ticket_ids = (
        _ids(session, sql_select(col(Ticket.id)).where(col(Ticket.customer_id) == customer.id)) if customer else ()
    )
    mine = func.lower(Message.from_addr) == address
    where = or_(mine, col(Message.ticket_id).in_(ticket_ids)) if ticket_ids else mine
    message_ids = _ids(session, sql_select(col(Message.id)).where(where))
    cc = session.exec(select(TicketParticipant.id).where(TicketParticipant.email == address)).first()
    if customer is None and not message_ids and cc is None:
        return None
    return Person(address, customer.id if customer else None, ticket_ids, message_ids)


def erase_person(session: Session, person: Person, *, key: bytes, actor: str, now: datetime) -> Removal:
    """Anonymise everything of one person: their tickets as a whole, their mail on other tickets, their Cc rows,
    their shop cache and suppression; keep a blocklist entry (spam protection) and count it."""
    pseudonym = pseudonym_of(person.address, key)
    agents = _agent_addresses(session)
    counts = _scrub_tickets(session, person.ticket_ids, key, now, actor, "customer data erased (customers erase)")
    removal = _scrub(session, person.message_ids, person.ticket_ids, key, agents, person.address)
    counts = counts.plus(removal.counts)
    counts = counts.plus(_redact_events(session, None, {person.address: pseudonym}))
    elsewhere = session.exec(select(TicketParticipant).where(TicketParticipant.email == person.address)).all()
    for row in elsewhere:
        session.delete(row)
    counts = counts.plus(ErasureCounts(participants=len(elsewhere)))
    counts = counts.plus(_erase_sole_recipient_mail(session, person.address, person.ticket_ids))
    if person.customer_id is not None:
        _move_tickets(session, person.ticket_ids, pseudonym, now)
        _delete_customer(session, person.customer_id)
    _forget_address(session, person.address)
    blocked = session.exec(select(BlockedSender.id).where(BlockedSender.entry == person.address)).first()
    session.flush()
    return Removal(counts.plus(ErasureCounts(blocklist_kept=int(blocked is not None))), removal.raw_paths)


def anonymise_ticket(
    session: Session, ticket_id: int, *, key: bytes, actor: str, now: datetime, reason: str
) -> Removal:
    """Anonymise one ticket as a whole: content, raw mail, attachments, mail we sent, Cc rows, rating comments; it
    moves to its customer's pseudonym, and a customer left without tickets is deleted."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or ticket.anonymised_at is not None:
        return Removal(ErasureCounts())
    customer = session.get(Customer, ticket.customer_id)
    address = customer.email if customer else ""
    message_ids = _ids(session, sql_select(col(Message.id)).where(col(Message.ticket_id) == ticket_id))
    agents = _agent_addresses(session)
    counts = _scrub_tickets(session, (ticket_id,), key, now, actor, reason)
    removal = _scrub(session, message_ids, (ticket_id,), key, agents, address)
    counts = counts.plus(removal.counts)
    if customer is not None:
        _move_tickets(session, (ticket_id,), pseudonym_of(address, key), now)
        session.flush()
        if session.exec(select(Ticket.id).where(Ticket.customer_id == customer.id)).first() is None:
            _delete_customer(session, customer.id)  # type: ignore[arg-type]
            _forget_address(session, address)
    session.flush()
    return Removal(counts, removal.raw_paths)


def purge_ticket_raw(session: Session, ticket_id: int, *, actor: str, now: datetime, days: int) -> Removal:
    """Remove one ticket's raw mail (blobs and files), attachment contents and the bytes of mail we sent on it;
    the parsed text and attachment names stay."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        return Removal(ErasureCounts())
    message_ids = _ids(session, sql_select(col(Message.id)).where(col(Message.ticket_id) == ticket_id))
    raw_messages, paths = _purge_raw(session, message_ids)
    attachments = 0
    for attachment in session.exec(select(Attachment).where(col(Attachment.message_id).in_(message_ids))):
        if attachment.content:
            attachment.content = b""
            attachments += 1
    outbox = _purge_outbox(session, (ticket_id,), redact_to=None)
    counts = ErasureCounts(
        raw_purged_tickets=1, raw_messages=raw_messages, attachments=attachments, outbox_mails=outbox
    )
    reason = f"raw mail removed after {days} days ([retention] purge_raw_after_days)"
    session.add(TicketEvent(ticket_id=ticket_id, at=now, actor=actor, kind=EventKind.RAW_PURGED, reason=reason))
    session.flush()
    return Removal(counts, tuple(paths))


def finished_tickets(session: Session, finished_before: datetime) -> list[TicketAge]:
    """The finished tickets (closed, spam, merged) finished by `finished_before`, with whether they keep raw mail."""
    finished_at = func.coalesce(Ticket.closed_at, Ticket.status_changed_at, Ticket.updated_at)
    keeps_message_raw = (
        select(Message.id)
        .where(Message.ticket_id == Ticket.id, or_(col(Message.raw_path).is_not(None), func.length(Message.raw) > 0))
        .exists()
    )
    keeps_outbox_raw = (
        select(OutboxMail.id)
        .where(
            OutboxMail.ticket_id == Ticket.id,
            col(OutboxMail.status).not_in(UNSENT),
            func.length(OutboxMail.raw) > 0,
        )
        .exists()
    )
    statement = sql_select(
        col(Ticket.id),
        col(Ticket.status),
        finished_at,
        or_(keeps_message_raw, keeps_outbox_raw),
        col(Ticket.anonymised_at),
    ).where(
        col(Ticket.status).in_(FINISHED),
        finished_at <= finished_before,
        # An anonymised ticket without raw mail is done with: not read again every day.
        or_(col(Ticket.anonymised_at).is_(None), keeps_message_raw, keeps_outbox_raw),
    )
    return [
        TicketAge(ticket_id, status, utc(when), bool(has_raw), anonymised is not None)
        for ticket_id, status, when, has_raw, anonymised in db.run(session, statement)
    ]


def remove_raw_files(session: Session, paths: Iterable[str], *, delete: bool) -> int:
    """Delete the raw mail files no row names any more (a file is shared by messages with the same bytes); return
    how many (with delete False: how many would be)."""
    removed = 0
    for path in sorted(set(paths)):
        if session.exec(select(Message.id).where(Message.raw_path == path)).first() is not None:
            continue
        if delete:
            Path(path).unlink(missing_ok=True)
        removed += 1
    return removed


def record_erasure(
    session: Session, *, kind: str, actor: str, subject: str, counts: ErasureCounts, now: datetime
) -> int:
    """Leave the audit record of one erasure or retention run; return its id."""
    row = Erasure(at=now, actor=actor, kind=kind, subject=subject, counts=json.dumps(counts.as_dict()))
    session.add(row)
    session.flush()
    return row.id  # type: ignore[return-value]


def list_erasures(session: Session, limit: int = 100) -> list[dict]:
    """The latest audit records, newest first, as plain values."""
    rows = session.exec(select(Erasure).order_by(col(Erasure.id).desc()).limit(limit))
    return [
        {
            "id": r.id,
            "at": utc(r.at),
            "actor": r.actor,
            "kind": r.kind,
            "subject": r.subject,
            "counts": json.loads(r.counts),
        }
        for r in rows
    ]


def _ids(session: Session, statement) -> tuple[int, ...]:
    """The ids a one-column statement selects, in order."""
    return tuple(sorted(db.run(session, statement).scalars()))


def _agent_addresses(session: Session) -> set[str]:
    return {email.lower() for email in session.exec(select(Agent.email))}


def _scrub(
    session: Session,
    message_ids: tuple[int, ...],
    ticket_ids: tuple[int, ...],
    key: bytes,
    agents: set[str],
    address: str,
) -> Removal:
    """Remove the content of these messages (and the raw mail, attachments, mail we sent and ratings comments of
    these tickets). Senders other than agents and ourselves become pseudonyms."""
    raw_messages, paths = _purge_raw(session, message_ids)
    attachments = session.exec(select(Attachment).where(col(Attachment.message_id).in_(message_ids))).all()
    for attachment in attachments:
        session.delete(attachment)
    for message in session.exec(select(Message).where(col(Message.id).in_(message_ids))):
        sender = (message.from_addr or "").lower()
        if message.direction != Direction.OUTBOUND and sender and sender not in agents:
            message.from_addr = pseudonym_of(sender, key)
        message.subject, message.text_body, message.html_body = ERASED_SUBJECT, "", ""
        message.stripped_text, message.from_name, message.to_addrs, message.cc_addrs = None, "", "", ""
        message.order_number, message.defects = None, ""
    ratings = 0
    for rating in session.exec(select(Rating).where(col(Rating.ticket_id).in_(ticket_ids))):
        ratings += bool(rating.comment)
        rating.comment = ""
    participants = session.exec(select(TicketParticipant).where(col(TicketParticipant.ticket_id).in_(ticket_ids))).all()
    for participant in participants:
        session.delete(participant)
    for held in session.exec(select(HeldAnswer).where(col(HeldAnswer.ticket_id).in_(ticket_ids))):
        held.text = ""
        if held.state == HeldState.WAITING:
            held.state, held.finished_at = HeldState.CANCELLED, held.due_at
    for wait in session.exec(select(ShopWait).where(col(ShopWait.ticket_id).in_(ticket_ids))):
        session.delete(wait)
    outbox = _purge_outbox(session, ticket_ids, redact_to=(address, pseudonym_of(address, key)) if address else None)
    counts = ErasureCounts(
        messages=len(message_ids),
        raw_messages=raw_messages,
        attachments=len(attachments),
        outbox_mails=outbox,
        ratings=ratings,
        participants=len(participants),
    )
    return Removal(counts, tuple(paths))


def _purge_raw(session: Session, message_ids: tuple[int, ...]) -> tuple[int, list[str]]:
    """Empty the raw bytes of these messages; return how many had any, and the files they named."""
    count, paths = 0, []
    keeps_raw = or_(col(Message.raw_path).is_not(None), func.length(Message.raw) > 0)
    for message in session.exec(select(Message).where(col(Message.id).in_(message_ids), keeps_raw)):
        if message.raw_path:
            paths.append(message.raw_path)
        message.raw, message.raw_path = b"", None
        count += 1
    session.flush()
    return count, paths


def _purge_outbox(session: Session, ticket_ids: tuple[int, ...], redact_to: tuple[str, str] | None) -> int:
    """Empty the bytes of mail we sent on these tickets. With `redact_to` (erasure): also the subject and the address
    in its recipients, and mail not sent yet is cancelled (it can no longer be sent)."""
    count = 0
    for mail in session.exec(select(OutboxMail).where(col(OutboxMail.ticket_id).in_(ticket_ids))):
        if mail.status in UNSENT:
            if redact_to is None:
                continue
            mail.status = OutboxStatus.CANCELLED
        if redact_to is not None:
            mail.subject, mail.rcpt_to = ERASED_SUBJECT, redact(mail.rcpt_to, *redact_to)
        if mail.raw:
            mail.raw = b""
            count += 1
    return count


def _erase_sole_recipient_mail(session: Session, address: str, own_tickets: tuple[int, ...]) -> ErasureCounts:
    """Mail sent to the person alone on tickets not theirs (as a Cc participant, say): its bytes go."""
    count = 0
    for mail in session.exec(select(OutboxMail).where(func.lower(OutboxMail.rcpt_to) == address)):
        if mail.ticket_id in own_tickets:
            continue
        if mail.status in UNSENT:
            mail.status = OutboxStatus.CANCELLED
        mail.subject, mail.rcpt_to = ERASED_SUBJECT, ""
        count += bool(mail.raw)
        mail.raw = b""
    return ErasureCounts(outbox_mails=count)


def _scrub_tickets(
    session: Session, ticket_ids: tuple[int, ...], key: bytes, now: datetime, actor: str, reason: str
) -> ErasureCounts:
    """Anonymise the ticket rows themselves and their events, and leave an event saying so."""
    counts = ErasureCounts()
    for ticket in session.exec(select(Ticket).where(col(Ticket.id).in_(ticket_ids))).all():
        customer = session.get(Customer, ticket.customer_id)
        cc = session.exec(select(TicketParticipant.email).where(TicketParticipant.ticket_id == ticket.id)).all()
        addresses = [*cc, *([customer.email] if customer else [])]
        people = {address: pseudonym_of(address, key) for address in addresses}
        ticket.subject, ticket.subject_key, ticket.anonymised_at = ERASED_SUBJECT, "", now
        counts = counts.plus(ErasureCounts(tickets=1)).plus(_redact_events(session, ticket.id, people))
        event = TicketEvent(
            ticket_id=ticket_id_of(ticket), at=now, actor=actor, kind=EventKind.ANONYMISED, reason=reason
        )
        session.add(event)
    return counts


def ticket_id_of(ticket: Ticket) -> int:
    assert ticket.id is not None  # a stored row
    return ticket.id


def _redact_events(session: Session, ticket_id: int | None, people: dict[str, str]) -> ErasureCounts:
    """Replace these addresses in the actors and reasons of one ticket's events (None: of every event)."""
    count = 0
    for address, pseudonym in people.items():
        named = or_(
            func.lower(TicketEvent.actor).contains(address, autoescape=True),
            func.lower(TicketEvent.reason).contains(address, autoescape=True),
        )
        where = named if ticket_id is None else (named & (TicketEvent.ticket_id == ticket_id))
        for event in session.exec(select(TicketEvent).where(where)):
            event.actor, event.reason = (
                redact(event.actor, address, pseudonym),
                redact(event.reason, address, pseudonym),
            )
            count += 1
    return ErasureCounts(events=count)


def _move_tickets(session: Session, ticket_ids: tuple[int, ...], pseudonym: str, now: datetime) -> None:
    """Move tickets to the pseudonym's customer row (made once; erasing an address twice finds it)."""
    row = session.exec(select(Customer).where(Customer.email == pseudonym)).first()
    if row is None:
        row = Customer(email=pseudonym, name="", created_at=now)
        session.add(row)
        session.flush()
    for ticket in session.exec(select(Ticket).where(col(Ticket.id).in_(ticket_ids))):
        ticket.customer_id = row.id  # type: ignore[assignment]
    session.flush()


def _delete_customer(session: Session, customer_id: int) -> None:
    customer = session.get(Customer, customer_id)
    if customer is not None:
        session.delete(customer)
        session.flush()


def _forget_address(session: Session, address: str) -> None:
    """Drop what only served mail to this address: its shop look-ups and its suppression."""
    for model, column in ((ShopCache, ShopCache.email), (AddressSuppression, AddressSuppression.address)):
        for row in session.exec(select(model).where(column == address)):
            session.delete(row)
    for wait in session.exec(select(ShopWait).where(ShopWait.email == address)):
        session.delete(wait)
