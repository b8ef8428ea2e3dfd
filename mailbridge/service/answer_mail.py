"""An agent's answer to the customer, inside the caller's session: its text modules inserted, built in the Contact's
greeting and signature, queued (in the undo window when `[agents] send_delay_seconds` is set) and stored as the
ticket's outbound copy.

`queue_answer` is the one path a mail a person sends the customer takes (a relayed answer here, an action's mail in
`actions`): outbox row, copy, event, the ticket taken if unassigned. Called by agent_desk and actions. Never commits.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlmodel import Session, select

from mailbridge.decisions.agent_commands import (
    BLOCKING_COMMANDS,
    STATUS_COMMANDS,
    AgentReply,
    insert_text_modules,
    text_module_names,
)
from mailbridge.decisions.held_answers import release_time
from mailbridge.decisions.inbound.language import FALLBACK, customer_locale
from mailbridge.decisions.inbound.names import safe_display_name
from mailbridge.decisions.kinds import Direction, EventKind, MailKind, MessageKind, TicketStatus
from mailbridge.decisions.matching.ticket_numbers import format_subject
from mailbridge.decisions.outgoing.compose import OutgoingAttachment, OutgoingDraft, compose
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.drafts import reference_line, ticket_reply_address
from mailbridge.decisions.outgoing.salutations import surrounding_texts
from mailbridge.decisions.outgoing.templates import render
from mailbridge.service import answer_window, notices
from mailbridge.service.customer_mail import customer_thread
from mailbridge.service.participants import answer_cc_of
from mailbridge.store import contacts, outbox_queue, tickets
from mailbridge.store.models import Agent, Contact, Customer, Message, TextModule, Ticket

log = logging.getLogger(__name__)
_SANDBOX = SandboxedEnvironment(autoescape=False)
BLOCKING_STATUSES = frozenset(STATUS_COMMANDS[c] for c in BLOCKING_COMMANDS)


def relay_answer(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    text: str,
    now: datetime,
    cause: str,
    attachments: tuple[OutgoingAttachment, ...] = (),
    explicit_status: bool = False,
    source: Message | None = None,
    carried: str | None = None,
) -> Message:
    """Send an agent's answer to the customer and store the copy; the ticket waits and is theirs if unassigned.

    With `[agents] send_delay_seconds`, the answer is due that much later and the status it moves the ticket to
    (`carried`, else waiting) is applied when it is released (`answer_window`); the agent may take it back meanwhile.
    """
    due = release_time(now, ctx.agents.send_delay_seconds)
    draft = answer_draft(ctx, session, ticket, agent, text, attachments, cc=answer_cc_of(ctx, session, ticket, now))
    outbox_id, copy = queue_answer(
        ctx,
        session=session,
        ticket=ticket,
        agent=agent,
        draft=draft,
        stripped_text=text,
        event=EventKind.AGENT_ANSWERED,
        what="answer",
        now=now,
        cause=cause,
        source=source,
        not_before=due,
    )
    actor = f"agent:{agent.email}"
    session.flush()
    if due is not None:
        # `#spam` beside an answer acts at once (handle_agent_text); any other status waits with the answer.
        pending = (
            None if carried in BLOCKING_STATUSES else carried or (None if explicit_status else TicketStatus.WAITING)
        )
        answer_window.hold_for_window(
            ctx,
            session=session,
            ticket=ticket,
            agent=agent,
            outbox_id=outbox_id,
            copy=copy,
            text=text,
            pending_status=pending,
            due=due,
            now=now,
            source=source,
        )
        return copy
    tickets.record_response(ticket=ticket, actor=actor, now=now)
    if not explicit_status:
        notices.set_status(
            ctx, session=session, ticket=ticket, actor=actor, target=TicketStatus.WAITING, now=now, answered=True
        )
    session.flush()
    return copy


def queue_answer(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    draft: OutgoingDraft,
    stripped_text: str,
    event: EventKind,
    what: str,
    now: datetime,
    cause: str,
    source: Message | None,
    not_before: datetime | None = None,
) -> tuple[int, Message]:
    """Queue a mail a person sends the customer, store its copy on the ticket and record `event` ("`what` to ...");
    an unassigned ticket becomes the agent's, and the Contact's other agents hear of it once. Return the outbox row's
    id and the copy (not flushed)."""
    mail = compose(draft, ctx.new_message_id(draft.from_address), now)
    outbox_id = outbox_queue.enqueue(
        session=session,
        mail=mail,
        sign=ctx.sign,
        dedupe_key=f"{draft.kind}:{cause}",
        kind=draft.kind,
        ticket_id=ticket.id,
        now=now,
        is_automatic=False,
        caused_by_message_id=source.id if source else None,  # whom to tell if it cannot be delivered
        not_before=not_before,
    )
    raw = bytes(mail)
    copy = Message(
        ticket_id=ticket.id,
        direction=Direction.OUTBOUND,
        message_id=mail["Message-ID"],
        in_reply_to=draft.in_reply_to,
        references=" ".join(draft.references),
        from_addr=draft.from_address,
        from_name=agent.name,
        to_addrs=draft.to_address,
        cc_addrs=", ".join(draft.cc),
        subject=draft.subject,
        sent_at=now,
        text_body=draft.body.text,
        stripped_text=stripped_text,
        html_body=draft.body.html,
        raw=raw,
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        kind=MessageKind.AGENT_REPLY,
        stored_at=now,
    )
    session.add(copy)
    actor = f"agent:{agent.email}"
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind=event,
        reason=f"{what} to {draft.to_address}" + (f", cc {', '.join(draft.cc)}" if draft.cc else ""),
        now=now,
    )
    if ticket.assigned_agent_id is None:
        reason = f"unassigned -> {agent.email} (first answer)"
        tickets.assign_agent(session=session, ticket=ticket, agent=agent, actor=actor, reason=reason, now=now)
        # Taking the ticket by a first answer (or an action's mail): the Contact's other agents hear of it once.
        answer_window.tell_of_take(ctx, session=session, ticket=ticket, agent=agent, skip=(), cause=cause, now=now)
    return outbox_id, copy


def answer_draft(
    ctx: MailContext,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    text: str,
    attachments: tuple[OutgoingAttachment, ...],
    cc: tuple[str, ...] = (),
) -> OutgoingDraft:
    """Build the customer's mail: the agent's text in the Contact's greeting and signature, threaded; `cc`: its Cc.

    Greeting and signature are the Contact's texts for the customer's locale, else its default texts; each is left
    out when the agent's text already greets or closes (`salutations.surrounding_texts`).
    """
    contact = session.get(Contact, ticket.contact_id)
    customer = session.get(Customer, ticket.customer_id)
    locale = ticket_locale(ctx, session, ticket)
    # Threaded as the customer saw the ticket: never to the agent's own mail, which only we received.
    thread = customer_thread(session, ticket, customer)
    values = {
        "customer": {"name": safe_display_name(customer.name), "email": customer.email},
        "ticket": {"number": ticket.number, "subject": ticket.subject},
        "agent": {"name": agent.name},
    }
    greeting, signature = surrounding_texts(
        text,
        render_contact_text(contacts.reply_text(session, contact, "greeting", locale), values),
        render_contact_text(contacts.reply_text(session, contact, "signature", locale), values),
    )
    context = {
        "greeting": greeting,
        "text": text,
        "signature": signature,
        "reference_line": reference_line(ticket.number),
    }
    support = ctx.support
    return OutgoingDraft(
        kind=MailKind.AGENT_REPLY,
        from_name=ctx.from_name_for(contact),
        from_address=contact.email,
        to_name=safe_display_name(customer.name),
        to_address=customer.email,
        subject=format_subject(support.ticket_subject_format, ticket.number, ticket.subject or "(no subject)"),
        body=render(ctx.templates_for(contact), MailKind.AGENT_REPLY, locale, context),
        in_reply_to=thread.in_reply_to,
        references=thread.references,
        # A person wrote this answer: no Auto-Submitted (RFC 3834 §5).
        auto_submitted=None,
        instance_id=ctx.instance_id,
        reply_to=ticket_reply_address(ticket, support, contact),
        attachments=attachments,
        cc=cc,
    )


def render_contact_text(template: str | None, values: dict) -> str:
    """Render a Contact's greeting, signature or text module; a broken template is shown as written."""
    if not template:
        return ""
    try:
        return _SANDBOX.from_string(template).render(values).strip()
    except TemplateError:
        log.warning("contact text does not render; sent as written")
        return template.strip()


def ticket_locale(ctx: MailContext, session: Session, ticket: Ticket) -> str:
    """The language the customer is answered in (`language.customer_locale`)."""
    customer = session.get(Customer, ticket.customer_id)
    contact = session.get(Contact, ticket.contact_id)
    return customer_locale(contact.locale, customer.locale, None, ctx.support.default_locale)


def fill_text_modules(
    session: Session, ticket: Ticket, reply: AgentReply, locale: str, default: str | None = None
) -> str | list[str]:
    """The reply's text with its `#text NAME` modules inserted, or the problems (a module this Contact lacks)."""
    names = text_module_names(reply.body)
    if not names:
        return reply.body
    customer = session.get(Customer, ticket.customer_id)
    values = {
        "customer": {"name": safe_display_name(customer.name), "email": customer.email},
        "ticket": {"number": ticket.number, "subject": ticket.subject},
    }
    found, missing = {}, []
    for name in names:
        module = find_text_module(session, ticket.contact_id, name, locale, default)
        if module is None:
            missing.append(f"#text {name}: no such text module for this Contact")
        else:
            found[name] = render_contact_text(module.body, values)
    return missing or insert_text_modules(reply.body, found)


def find_text_module(
    session: Session, contact_id: int, name: str, locale: str, default: str | None = None
) -> TextModule | None:
    """Find a Contact's text module by name (any case) in the locale, else the default locale, else English, else any."""
    rows = [
        m
        for m in session.exec(select(TextModule).where(TextModule.contact_id == contact_id))
        if m.name.casefold() == name.casefold()
    ]
    for wanted in (locale, default, FALLBACK):
        for module in rows:
            if module.locale == wanted:
                return module
    return rows[0] if rows else None
