"""A named action's mail to the customer (`[actions.NAME] template`), queued in the caller's session.

`agent_desk.handle_agent_text` runs an action (`#return` in a reply, `mailbridge tickets action`): it builds the
draft here first (a template that does not render is a problem, and nothing is sent), then queues it with
`send_action_mail`, which gives it the Cc of an answer (the ticket's participants) and queues it and stores the copy
on the ticket as a relayed answer is (`answer_mail.queue_answer`). Never commits.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from mailbridge.base.config.actions import ActionSettings
from mailbridge.decisions.inbound.names import safe_display_name
from mailbridge.decisions.kinds import EventKind, MailKind
from mailbridge.decisions.matching.ticket_numbers import format_subject
from mailbridge.decisions.outgoing.compose import OutgoingDraft
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.drafts import reference_line, ticket_reply_address
from mailbridge.decisions.outgoing.templates import render
from mailbridge.service.answer_mail import queue_answer
from mailbridge.service.customer_mail import customer_thread
from mailbridge.service.participants import answer_cc_of
from mailbridge.store import tickets
from mailbridge.store.models import Agent, Contact, Customer, Message, Ticket


def action_draft(
    ctx: MailContext,
    session: Session,
    *,
    ticket: Ticket,
    agent: Agent,
    action: ActionSettings,
    text: str,
    locale: str,
) -> OutgoingDraft:
    """Render the action's template mail to the ticket's customer, threaded as they saw the ticket.

    Raises: jinja2.TemplateError when a site template does not render.
    """
    assert action.template is not None, "only an action with a template mails the customer"
    contact = session.get(Contact, ticket.contact_id)
    customer = session.get(Customer, ticket.customer_id)
    assert contact is not None and customer is not None, "foreign keys of a stored ticket"
    support = ctx.support
    context = {
        "customer_name": safe_display_name(customer.name),
        "number": ticket.number,
        "subject": ticket.subject,
        "from_name": support.from_name,
        "contact_name": contact.name,
        "agent_name": agent.name or agent.email,
        "text": text,
        "reference_line": reference_line(ticket.number),
    }
    thread = customer_thread(session, ticket, customer)
    return OutgoingDraft(
        kind=MailKind.ACTION_MAIL,
        from_name=support.from_name,
        from_address=contact.email,
        to_name=safe_display_name(customer.name),
        to_address=customer.email,
        subject=format_subject(support.ticket_subject_format, ticket.number, ticket.subject or "(no subject)"),
        body=render(ctx.templates, action.template, locale, context),
        in_reply_to=thread.in_reply_to,
        references=thread.references,
        # A person chose to send it, as with a relayed answer: no Auto-Submitted (RFC 3834 §5).
        auto_submitted=None,
        instance_id=ctx.instance_id,
        reply_to=ticket_reply_address(ticket, support, contact),
    )


def send_action_mail(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    draft: OutgoingDraft,
    now: datetime,
    cause: str,
    source: Message | None = None,
) -> Message:
    """Queue the action's mail, in Cc to the ticket's participants as an answer is, and store its copy on the ticket;
    it counts as the ticket's answer."""
    draft = replace(draft, cc=answer_cc_of(ctx, session, ticket, now))
    # Taking the ticket by an action is a take like a first answer: the Contact's other agents hear of it once.
    _, copy = queue_answer(
        ctx,
        session=session,
        ticket=ticket,
        agent=agent,
        draft=draft,
        stripped_text=draft.body.text,
        event=EventKind.MAIL_QUEUED,
        what=draft.kind,
        now=now,
        cause=cause,
        source=source,
    )
    tickets.record_response(ticket=ticket, actor=f"agent:{agent.email}", now=now)
    session.flush()
    return copy


def action_summary(action: ActionSettings, category: str | None) -> str:
    """The history line of an action run: its name and what it does."""
    parts = [f"#{action.name}"]
    if action.template:
        parts.append(f"mail {action.template}")
    if action.forward_to:
        parts.append(f"thread to {action.forward_to}")
    if action.status:
        parts.append(f"status {action.status}")
    if category:
        parts.append(f"category {category}")
    return ", ".join(parts)
