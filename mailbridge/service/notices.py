"""Mails a ticket change causes outside intake: "we started handling", "auto-closed", SLA escalation.

Each is rendered and queued in the caller's session with a dedupe key, so it goes out once and in
the same commit as the change. Called by the timers (`timers.py`) and the CLI status command.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, select

from mailbridge.decisions.kinds import Direction, EventKind, MailKind, TicketStatus
from mailbridge.store import outbox_queue, tickets
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.compose import OutgoingDraft, compose
from mailbridge.decisions.outgoing.drafts import notice_draft, reference_line
from mailbridge.base.errors import NotFoundError
from mailbridge.decisions.lifecycle import Transition
from mailbridge.store.models import Contact, Customer, Message, Ticket
from mailbridge.decisions.outgoing.templates import render

log = logging.getLogger(__name__)


def enqueue_transition_mails(ctx: MailContext, *, session: Session, ticket: Ticket, transition: Transition, now: datetime,
                             extra: dict | None = None) -> None:
    """Queue the customer mails a transition plans; one per ticket and kind (per closing for auto-close)."""
    for kind in transition.mails:
        if kind is MailKind.SURVEY:
            # Imported here: survey_mail queues through this module's queue_customer_mail.
            from mailbridge.service.survey_mail import queue_survey

            queue_survey(ctx, session=session, ticket=ticket, now=now)
            continue
        key = f"{kind}:{ticket.id}"
        if kind is MailKind.AUTO_CLOSED:
            key = f"{kind}:{ticket.id}:{now.isoformat()}"
        enqueue_customer_notice(ctx, session=session, ticket=ticket, kind=kind, dedupe_key=key, now=now, extra=extra)


def enqueue_customer_notice(ctx: MailContext, *, session: Session, ticket: Ticket, kind: MailKind, dedupe_key: str,
                            now: datetime, extra: dict | None = None) -> None:
    """Render one automatic mail to the ticket's customer, threaded to their last message, and queue it."""
    customer = session.get(Customer, ticket.customer_id)
    contact = session.get(Contact, ticket.contact_id)
    last = session.exec(select(Message).where(Message.ticket_id == ticket.id, Message.direction == Direction.INBOUND)
                        .order_by(Message.id.desc())).first()
    references = tuple(last.references.split()) if last and last.references else ()
    support = ctx.support
    locale = contact.locale or customer.locale or support.default_locale
    draft = notice_draft(kind, ticket=ticket, customer=customer, contact=contact, locale=locale, support=support,
                         templates=ctx.templates, instance_id=ctx.instance_id,
                         in_reply_to=last.message_id if last else None, references=references, extra=extra)
    queue_customer_mail(ctx, session=session, ticket=ticket, draft=draft, dedupe_key=dedupe_key, now=now)


def queue_customer_mail(ctx: MailContext, *, session: Session, ticket: Ticket, draft: OutgoingDraft, dedupe_key: str,
                        now: datetime, caused_by_message_id: int | None = None, not_before: datetime | None = None) -> bool:
    """Queue an automatic mail to a customer unless the loop guard stops it; record either on the ticket."""
    decision = outbox_queue.check_auto_mail(session=session, address=draft.to_address, ticket_id=ticket.id, now=now,
                                      limits=ctx.limits)
    if not decision.allowed:
        tickets.record_event(session=session, ticket=ticket, actor="system", kind=EventKind.MAIL_SUPPRESSED,
                             reason=f"{draft.kind} to {draft.to_address}: {decision.reason}", now=now)
        log.warning("suppressed kind=%s ticket=%s reason=%s", draft.kind, ticket.number, decision.reason)
        return False
    mail = compose(draft, ctx.new_message_id(draft.from_address), now)
    outbox_queue.enqueue(session=session, mail=mail, dedupe_key=dedupe_key, kind=draft.kind, ticket_id=ticket.id, now=now,
                   caused_by_message_id=caused_by_message_id, not_before=not_before)
    tickets.record_event(session=session, ticket=ticket, actor="system", kind=EventKind.MAIL_QUEUED,
                         reason=f"{draft.kind} to {draft.to_address}", now=now)
    return True


def enqueue_sla_report(ctx: MailContext, *, session: Session, ticket: Ticket, address: str, breached: bool,
                       due: datetime, hours: float, now: datetime) -> None:
    """Queue the one SLA escalation mail of a ticket to `address`."""
    customer = session.get(Customer, ticket.customer_id)
    contact = session.get(Contact, ticket.contact_id)
    support = ctx.support
    context = {"number": ticket.number, "subject": ticket.subject, "customer": customer.email,
               "contact": contact.name, "breached": breached, "created_at": ticket.created_at,
               "due_at": due.isoformat(timespec="minutes"), "hours": f"{hours:g}", "status": ticket.status,
               "reference_line": reference_line(ticket.number)}
    label = "SLA breached" if breached else "SLA warning"
    # RFC 3834: generated by a timer, answering nothing.
    draft = OutgoingDraft(kind=MailKind.SLA_WARNING, from_name=support.from_name, from_address=support.from_address,
                          to_name="", to_address=address, subject=f"{label}: [#{ticket.number}] {ticket.subject}",
                          body=render(ctx.templates, MailKind.SLA_WARNING, "en", context), in_reply_to=None, references=(),
                          auto_submitted="auto-generated", instance_id=ctx.instance_id)
    mail = compose(draft, ctx.new_message_id(support.from_address), now)
    outbox_queue.enqueue(session=session, mail=mail, dedupe_key=f"{MailKind.SLA_WARNING}:{ticket.id}", kind=MailKind.SLA_WARNING,
                   ticket_id=ticket.id, now=now)


def change_status(ctx: MailContext, *, session: Session, number: str, target: TicketStatus, actor: str,
                  now: datetime, reason: str = "") -> Ticket:
    """Set a ticket's status for an agent, with its event and any notice, in the caller's transaction.

    Raises: NotFoundError for an unknown number; CommandError for a change that is not allowed.
    """
    ticket = session.exec(select(Ticket).where(Ticket.number == number)).first()
    if ticket is None:
        raise NotFoundError(f"no ticket with number {number}")
    transition = tickets.take(session, ticket, actor, now, target=target, reason=reason)
    enqueue_transition_mails(ctx, session=session, ticket=ticket, transition=transition, now=now)
    log.info("status ticket=%s status=%s actor=%s", ticket.number, ticket.status, actor)
    return ticket
