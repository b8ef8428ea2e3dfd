"""Mails of the satisfaction survey: the survey when a ticket closes, the thank-you for a rating.

Both are automatic customer mail and go through `customer_mail.queue_customer_mail` (the loop guard) in
the caller's session. `notices.enqueue_transition_mails` calls `queue_survey` for a planned
`MailKind.SURVEY`; intake's rating branch calls `queue_thanks`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session, select

from mailbridge.decisions.inbound.language import choose_locale
from mailbridge.decisions.kinds import MailKind
from mailbridge.decisions.matching.reply_tokens import make_token
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.drafts import notice_draft
from mailbridge.decisions.survey import RATING, RATING_SUBJECTS, rating_links, should_send_survey
from mailbridge.service.customer_mail import customer_thread, queue_customer_mail
from mailbridge.store.models import Contact, Customer, Message, OutboxMail, Ticket

log = logging.getLogger(__name__)


def queue_survey(ctx: MailContext, *, session: Session, ticket: Ticket, now: datetime) -> bool:
    """Queue the one survey of a closed ticket, due `[survey] delay_minutes` from now; False when none is sent."""
    contact = session.get(Contact, ticket.contact_id)
    if not should_send_survey(status=ticket.status, send_survey=contact.send_survey):
        return False
    if ctx.secret is None:
        log.warning("no survey ticket=%s: rating addresses need [support] secret_env or secret_file", ticket.number)
        return False
    key = f"{MailKind.SURVEY}:{ticket.id}"
    # One survey per ticket, also when it is reopened and closed again: the rating replaces, the mail is not repeated.
    if session.exec(select(OutboxMail.id).where(OutboxMail.dedupe_key == key)).first() is not None:
        return False
    customer = session.get(Customer, ticket.customer_id)
    locale = _locale(ctx, contact, customer)
    token = make_token(ticket.id, ctx.secret, purpose=RATING, issued_day=now.date())
    subject = f"{RATING_SUBJECTS.get(locale, RATING_SUBJECTS['en'])} [#{ticket.number}]"
    thread = customer_thread(session, ticket, customer)
    draft = notice_draft(
        MailKind.SURVEY,
        ticket=ticket,
        customer=customer,
        contact=contact,
        locale=locale,
        support=ctx.support,
        templates=ctx.templates_for(contact),
        instance_id=ctx.instance_id,
        in_reply_to=thread.in_reply_to,
        references=thread.references,
        extra={"links": rating_links(contact.email, token, subject), "window_days": ctx.survey.window_days},
    )
    return queue_customer_mail(
        ctx,
        session=session,
        ticket=ticket,
        draft=draft,
        dedupe_key=key,
        now=now,
        not_before=now + timedelta(minutes=ctx.survey.delay_minutes),
    )


def queue_thanks(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    row: Message,
    score: int,
    is_replacement: bool,
    now: datetime,
) -> bool:
    """Queue the short thank-you answering one rating mail."""
    contact = session.get(Contact, ticket.contact_id)
    customer = session.get(Customer, ticket.customer_id)
    # The rating mail is stored already: from the customer, it is their latest message and the one answered.
    thread = customer_thread(session, ticket, customer)
    # RFC 3834: it answers the customer's rating mail, so auto-replied.
    draft = notice_draft(
        MailKind.SURVEY_THANKS,
        ticket=ticket,
        customer=customer,
        contact=contact,
        locale=_locale(ctx, contact, customer),
        support=ctx.support,
        templates=ctx.templates_for(contact),
        instance_id=ctx.instance_id,
        in_reply_to=thread.in_reply_to,
        references=thread.references,
        auto_submitted="auto-replied",
        extra={"score": score, "is_replacement": is_replacement},
    )
    return queue_customer_mail(
        ctx,
        session=session,
        ticket=ticket,
        draft=draft,
        now=now,
        caused_by_message_id=row.id,
        dedupe_key=f"{MailKind.SURVEY_THANKS}:{ticket.id}:{row.id}",
    )


def _locale(ctx: MailContext, contact: Contact, customer: Customer) -> str:
    return choose_locale(contact.locale, customer.locale, None, ctx.support.default_locale)
