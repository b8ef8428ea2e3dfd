"""Store: what we hold about one person, gathered for `customers export` (GDPR Art. 15 and 20).

`gather_export(session, address)` returns the document (`customer.json`) and the mail files: every message they
sent (as received, from the raw bytes) and every mail we sent them (from the outbox). It holds the person's data,
not the company's: agents' internal notes, the agents' own mail and other people's mail on their tickets stay out;
of the ticket history only the status changes. Called by `cli.operate.customers_cmd`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from mailbridge.base.clock import utc
from mailbridge.decisions.kinds import Direction, EventKind, MessageKind, OutboxStatus
from mailbridge.store.models import (
    Attachment,
    Customer,
    Message,
    OutboxMail,
    Rating,
    Ticket,
    TicketEvent,
    TicketParticipant,
)
from mailbridge.store.raw_files import raw_bytes

TO_THEM = (MessageKind.AGENT_REPLY,)  # our messages written to the customer, as stored
HISTORY = (EventKind.CREATED, EventKind.STATUS_CHANGED, EventKind.MERGED, EventKind.SPLIT)
DELIVERED = (OutboxStatus.SENT, OutboxStatus.BOUNCED)


@dataclass(frozen=True)
class CustomerExport:
    document: dict
    files: tuple[tuple[str, bytes], ...]  # (relative path, bytes)
    missing_raw: int  # messages whose raw bytes were removed (retention): in the JSON, without a file


def gather_export(session: Session, address: str, now: datetime) -> CustomerExport | None:
    """Everything we hold about one address, or None when nothing."""
    address = address.strip().lower()
    customer = session.exec(select(Customer).where(Customer.email == address)).first()
    tickets = (
        session.exec(select(Ticket).where(Ticket.customer_id == customer.id).order_by(col(Ticket.id))).all()
        if customer
        else []
    )
    ticket_ids = [t.id for t in tickets]
    mine = func.lower(Message.from_addr) == address
    to_them = col(Message.ticket_id).in_(ticket_ids) & col(Message.kind).in_(TO_THEM)
    messages = session.exec(select(Message).where(or_(mine, to_them)).order_by(col(Message.id))).all()
    mails = [
        m
        for m in session.exec(
            select(OutboxMail).where(col(OutboxMail.status).in_(DELIVERED)).order_by(col(OutboxMail.id))
        )
        if address in [r.strip().lower() for r in m.rcpt_to.split(",")]
    ]
    cc = session.exec(select(TicketParticipant).where(TicketParticipant.email == address)).all()
    if customer is None and not messages and not cc:
        return None
    files: list[tuple[str, bytes]] = []
    missing = 0
    numbers = {
        t.id: t.number
        for t in session.exec(
            select(Ticket).where(
                col(Ticket.id).in_(
                    {m.ticket_id for m in messages}
                    | {m.ticket_id for m in mails}
                    | {p.ticket_id for p in cc}
                    | set(ticket_ids)
                )
            )
        )
    }
    entries = []
    for message in messages:
        entry = _message_entry(session, message, numbers)
        if message.direction == Direction.INBOUND:
            raw = raw_bytes(message) if (message.raw or message.raw_path) else b""
            if raw:
                entry["file"] = f"mail/in-{message.id}.eml"
                files.append((entry["file"], raw))
            else:
                missing += 1
        entries.append(entry)
    sent = []
    for mail in mails:
        entry = {
            "ticket": numbers.get(mail.ticket_id),
            "kind": mail.kind,
            "subject": mail.subject,
            "status": mail.status,
            "sent_at": utc(mail.sent_at) if mail.sent_at else None,
            "file": None,
        }
        if mail.raw:
            entry["file"] = f"mail/out-{mail.id}.eml"
            files.append((entry["file"], mail.raw))
        sent.append(entry)
    document = {
        "exported_at": now,
        "address": address,
        "customer": _customer_entry(customer),
        "tickets": [_ticket_entry(session, t) for t in tickets],
        "messages": entries,
        "mail_sent_to_you": sent,
        "in_cc_of_tickets": sorted({numbers[p.ticket_id] for p in cc if not p.removed}),
    }
    return CustomerExport(document, tuple(files), missing)


def _customer_entry(customer: Customer | None) -> dict | None:
    if customer is None:
        return None
    created = utc(customer.created_at) if customer.created_at else None
    return {"email": customer.email, "name": customer.name, "locale": customer.locale, "created_at": created}


def _ticket_entry(session: Session, ticket: Ticket) -> dict:
    events = session.exec(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, col(TicketEvent.kind).in_(HISTORY))
        .order_by(col(TicketEvent.id))
    )
    ratings = session.exec(select(Rating).where(Rating.ticket_id == ticket.id).order_by(col(Rating.id)))
    return {
        "number": ticket.number,
        "status": ticket.status,
        "subject": ticket.subject,
        "category": ticket.category,
        "created_at": utc(ticket.created_at) if ticket.created_at else None,
        "closed_at": utc(ticket.closed_at) if ticket.closed_at else None,
        "history": [
            {"at": utc(e.at) if e.at else None, "kind": e.kind, "from": e.old_status, "to": e.new_status}
            for e in events
        ],
        "ratings": [
            {"score": r.score, "comment": r.comment, "at": utc(r.created_at) if r.created_at else None} for r in ratings
        ],
    }


def _message_entry(session: Session, message: Message, numbers: dict) -> dict:
    attachments = session.exec(
        select(Attachment).where(Attachment.message_id == message.id).order_by(col(Attachment.id))
    )
    return {
        "ticket": numbers.get(message.ticket_id),
        "direction": message.direction,
        "kind": message.kind,
        "from": message.from_addr,
        "to": message.to_addrs,
        "cc": message.cc_addrs,
        "subject": message.subject,
        "date": utc(message.sent_at) if message.sent_at else None,
        "stored_at": utc(message.stored_at) if message.stored_at else None,
        "text": message.text_body,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256}
            for a in attachments
        ],
        "file": None,
    }
