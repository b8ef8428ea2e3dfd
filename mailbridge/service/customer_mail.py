"""Queue one automatic mail to a customer, unless the loop guard stops it; either way the ticket records it.

The one path every customer notice takes (receipts from intake, notices, surveys, thanks), in the caller's
session: it never sends and never commits. `customer_thread` reads the ticket's chain as the customer saw it, for
the threading headers of every mail to them (thread_headers.thread_for_customer).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, col, select

from mailbridge.decisions.kinds import Direction, EventKind, MailKind, MessageKind, OutboxStatus
from mailbridge.decisions.outgoing.compose import OutgoingDraft, compose
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.thread_headers import SeenMail, ThreadHeaders, thread_for_customer
from mailbridge.store import outbox_queue, tickets
from mailbridge.store.models import Customer, Message, OutboxMail, Ticket

log = logging.getLogger(__name__)

# What we send a customer about their ticket; every other mail of a ticket goes to agents or outsiders.
CUSTOMER_MAIL_KINDS = frozenset(
    {
        MailKind.RECEIPT,
        MailKind.HANDLING_STARTED,
        MailKind.AUTO_CLOSED,
        MailKind.AUTO_CLOSE_REMINDER,
        MailKind.SURVEY,
        MailKind.SURVEY_THANKS,
        MailKind.MERGED,
        MailKind.AGENT_REPLY,
        MailKind.ACTION_MAIL,
    }
)
# Stored mail the customer wrote themselves (from their own address: a `#requester` forward is stored as
# `customer` too, but carries the agent's Message-ID).
_WRITTEN_BY_CUSTOMER = frozenset({MessageKind.CUSTOMER, MessageKind.SURVEY_ANSWER})
# Stored mail only agents saw: its ids must never reach the customer.
_AGENTS_ONLY = frozenset(
    {MessageKind.AGENT_REPLY_IN, MessageKind.AGENT_NOTE, MessageKind.OUTSIDER_REPLY, MessageKind.FORGED_AGENT_REPLY}
)


def customer_thread(session: Session, ticket: Ticket, customer: Customer | None = None) -> ThreadHeaders:
    """Thread the next mail to the ticket's customer to what they saw of it: their messages and our mails to them."""
    customer = customer or session.get(Customer, ticket.customer_id)
    address = customer.email.casefold()
    timeline, hidden = [], []
    messages = session.execute(
        select(Message.id, Message.message_id, Message.references, Message.kind, Message.from_addr, Message.stored_at)
        .where(Message.ticket_id == ticket.id, Message.direction == Direction.INBOUND)
        .order_by(Message.id)
    )
    for row in messages:
        if row.kind in _WRITTEN_BY_CUSTOMER and (row.from_addr or "").casefold() == address:
            timeline.append(((row.stored_at, 0, row.id), SeenMail(row.message_id, True, tuple(row.references.split()))))
        elif row.message_id and (row.kind in _AGENTS_ONLY or row.kind == MessageKind.CUSTOMER):
            hidden.append(row.message_id)
    # Relayed answers are outbox rows too (their stored copies carry the same Message-ID), so the outbox suffices.
    sent = session.execute(
        select(OutboxMail.id, OutboxMail.message_id, OutboxMail.kind, OutboxMail.rcpt_to, OutboxMail.created_at)
        .where(
            OutboxMail.ticket_id == ticket.id,
            # Never seen by the customer: a bounced mail, an answer taken back in its undo window.
            col(OutboxMail.status).not_in([OutboxStatus.BOUNCED, OutboxStatus.CANCELLED]),
        )
        .order_by(OutboxMail.id)
    )
    for row in sent:
        # An answer with people in Cc lists the customer first among its recipients.
        if row.kind in CUSTOMER_MAIL_KINDS and row.rcpt_to.casefold().split(",")[0] == address:
            timeline.append(((row.created_at, 1, row.id), SeenMail(row.message_id, False)))
        else:
            hidden.append(row.message_id)
    # In time order; a customer's message before the mails it caused in the same second.
    return thread_for_customer([mail for _, mail in sorted(timeline, key=lambda item: item[0])], hidden)


def queue_customer_mail(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    draft: OutgoingDraft,
    dedupe_key: str,
    now: datetime,
    caused_by_message_id: int | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Queue an automatic mail to a customer unless the loop guard stops it; record either on the ticket."""
    decision = outbox_queue.check_auto_mail(
        session=session, address=draft.to_address, ticket_id=ticket.id, now=now, limits=ctx.limits
    )
    if not decision.allowed:
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor="system",
            kind=EventKind.MAIL_SUPPRESSED,
            reason=f"{draft.kind} to {draft.to_address}: {decision.reason}",
            now=now,
        )
        log.warning("suppressed kind=%s ticket=%s reason=%s", draft.kind, ticket.number, decision.reason)
        return False
    mail = compose(draft, ctx.new_message_id(draft.from_address), now)
    outbox_queue.enqueue(
        session=session,
        mail=mail,
        sign=ctx.sign,
        dedupe_key=dedupe_key,
        kind=draft.kind,
        ticket_id=ticket.id,
        now=now,
        caused_by_message_id=caused_by_message_id,
        not_before=not_before,
    )
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor="system",
        kind=EventKind.MAIL_QUEUED,
        reason=f"{draft.kind} to {draft.to_address}",
        now=now,
    )
    return True
