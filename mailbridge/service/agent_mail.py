"""Mails to and for agents, queued in the caller's session: notifications with a signed reply address,
warnings, one-line notices, and forwards to outsiders. Called by intake and agent_desk. A notification carries
an excerpt and the files that fit (service.notification_parts), at most a few an hour per agent and ticket.

None of these answer a customer, so none is counted by the customer loop guard (is_automatic=False);
the ones we generate carry `Auto-Submitted: auto-generated` (RFC 3834).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, select

from mailbridge.decisions.agent_reply import FORWARD
from mailbridge.decisions.inbound.language import agent_locale
from mailbridge.decisions.inbound.names import safe_display_name
from mailbridge.decisions.kinds import EventKind, MailKind, MessageKind
from mailbridge.decisions.loop_guard import NOTIFICATION_WINDOW, decide_agent_notification
from mailbridge.decisions.matching.reply_tokens import AGENT, make_token, reply_address
from mailbridge.decisions.matching.ticket_numbers import format_subject
from mailbridge.decisions.outgoing.compose import OutgoingAttachment, OutgoingDraft, clean_header_text, compose
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.drafts import reference_line
from mailbridge.decisions.outgoing.templates import render
from mailbridge.decisions.outgoing.thread_headers import ThreadHeaders, thread_for_agent
from mailbridge.decisions.outgoing.wording import (
    headline_words,
    history_words,
    message_words,
    phrase,
    shown_agent_text,
    status_words,
)
from mailbridge.service.customer_mail import CUSTOMER_MAIL_KINDS
from mailbridge.service.notification_parts import not_notified, notification_files, shop_summary, text_excerpt
from mailbridge.store import agents as agent_rows
from mailbridge.store import db, outbox_queue, tickets
from mailbridge.store.models import (
    Agent,
    AgentContact,
    Contact,
    Customer,
    Message,
    OutboxMail,
    TextModule,
    Ticket,
)

log = logging.getLogger(__name__)
THREAD_CHARS = 4000
FROM_NAME_CHARS = 60  # of the customer's name in From, leaving room for " via <from_name>" (compose keeps 100)


@dataclass(frozen=True)
class ThreadEntry:
    who: str
    at: str
    text: str


def choose_recipients(assigned: Agent | None, contact_agents: list[Agent]) -> list[Agent]:
    """Pick who hears of a customer message: the assigned agent, else every active agent of the Contact."""
    if assigned is not None and assigned.active:
        return [assigned]
    return [a for a in contact_agents if a.active]


_CONTACT_AGENTS = (
    select(Agent)
    .join(AgentContact, AgentContact.agent_id == Agent.id)
    .where(AgentContact.contact_id == bindparam("contact_id"))
    .order_by(Agent.name, Agent.id)
)


def contact_agents(session: Session, contact_id: int) -> list[Agent]:
    """Return the agents of a Contact, by name."""
    return list(session.scalars(_CONTACT_AGENTS, {"contact_id": contact_id}))


def agent_reply_address(
    ctx: MailContext, contact: Contact, ticket: Ticket, agent: Agent, now: datetime, purpose: str = AGENT
) -> str | None:
    """Sign a reply address for this agent and ticket, dated today; None without a secret."""
    if ctx.secret is None:
        return None
    token = make_token(ticket.id, ctx.secret, purpose=purpose, agent_id=agent.id, issued_day=now.date())
    return reply_address(contact.email, token)


def notify_agents(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    message: Message,
    now: datetime,
    headline: str,
    sender_is_flooding: bool = False,
) -> int:
    """Send a customer message to the ticket's agent (else the Contact's active agents); return how many.

    Within the rate limit only (`loop_guard.decide_agent_notification`): a notification it stops is recorded on the
    ticket and counted in that agent's next one; while the sender floods us, agents were told once instead.
    """
    assigned = session.get(Agent, ticket.assigned_agent_id) if ticket.assigned_agent_id else None
    agents = db.once_per_transaction(
        session, ("contact_agents", ticket.contact_id), lambda: contact_agents(session, ticket.contact_id)
    )
    recipients = choose_recipients(assigned, agents)
    notified = 0
    for agent in recipients:
        sent = 0
        if not sender_is_flooding:
            since = now - NOTIFICATION_WINDOW
            sent = outbox_queue.count_agent_notifications(
                session=session, ticket_id=ticket.id, address=agent.email, since=since
            )
        limit = ctx.agents.max_notifications_per_ticket_per_hour
        decision = decide_agent_notification(sent, limit, sender_is_flooding=sender_is_flooding)
        if not decision.allowed:
            tickets.record_event(
                session=session,
                ticket=ticket,
                actor="system",
                kind=EventKind.MAIL_SUPPRESSED,
                reason=f"{MailKind.AGENT_NOTIFICATION} to {agent.email}: {decision.reason}",
                now=now,
            )
            continue
        notified += 1
        send_notification(
            ctx,
            session=session,
            ticket=ticket,
            agent=agent,
            message=message,
            now=now,
            headline=headline,
            dedupe_key=f"{MailKind.AGENT_NOTIFICATION}:{message.id}:{agent.id}",
        )
    return notified


def tell_agents_of_flood(
    ctx: MailContext,
    *,
    session: Session,
    contact_id: int,
    address: str,
    count: int,
    until: datetime,
    now: datetime,
) -> int:
    """Tell each active agent of a Contact once that a sender floods it, instead of a notification per message."""
    contact = session.get(Contact, contact_id)
    agents = [a for a in contact_agents(session, contact_id) if a.active]
    for agent in agents:
        line = phrase(
            "flood", mail_locale(ctx, agent, contact), address=address, count=count, until=f"{until:%Y-%m-%d %H:%M}"
        )
        send_notice(
            ctx,
            session=session,
            ticket=None,
            to_address=agent.email,
            to_name=agent.name,
            line=line,
            dedupe_key=f"flood_notice:{agent.id}:{address}:{now:%Y%m%dT%H%M%S}",
            now=now,
        )
    return len(agents)


def send_notification(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    message: Message | None,
    now: datetime,
    headline: str,
    dedupe_key: str,
    with_thread: bool = False,
) -> None:
    """Queue one notification to an agent: the message (or the whole thread), its files, a signed Reply-To.

    `headline` is a key of `wording.HEADLINES` (new_ticket, new_message, assigned, answer_from: the message's
    sender); other text is shown as given. A new message from someone other than the ticket's customer (a person
    in Cc) is headed `message_from`, naming them.
    """
    contact = session.get(Contact, ticket.contact_id)
    customer = session.get(Customer, ticket.customer_id)
    locale = mail_locale(ctx, agent, contact)
    files, listed = notification_files(ctx, session, message.id, ticket.number, locale) if message else ((), [])
    history = history_line(session, ticket, locale)
    missed = not_notified(session, ticket.id, agent.email, message.id) if message else 0
    if missed:
        limit = ctx.agents.max_notifications_per_ticket_per_hour
        history += "; " + phrase("not_notified", locale, count=missed, limit=limit)
    sender = (message.from_addr or "") if message else ""
    if headline == "new_message" and sender and sender.lower() != customer.email.lower():
        # A person in Cc of the ticket wrote (participants): the agent must see who, not only the customer's name.
        name = safe_display_name(message.from_name) if message else ""
        headline, sender = "message_from", f"{name} <{sender}>" if name else sender
    context = {
        "headline": headline_words(headline, locale, sender=sender),
        "number": ticket.number,
        "subject": ticket.subject,
        "status": status_words(ticket.status, locale),
        "customer_name": safe_display_name(customer.name) or customer.email,
        "customer_email": customer.email,
        "history_line": history,
        "attachments": listed,
        "text": text_excerpt(ctx, message_text(message), ticket.number, locale) if message else "",
        "thread": thread_entries(session, ticket, locale) if with_thread else [],
        "text_modules": text_module_names(session, contact.id),
        "actions": [action.name for action in ctx.actions],  # [actions.NAME]: listed as `#NAME` with the commands
        "reference_line": reference_line(ticket.number),
        # [shop]: orders, total spent, registration and the order the mail names, as the cache has them.
        "shop": shop_summary(ctx, session, customer.email, message.order_number if message else None),
    }
    draft = _agent_draft(
        ctx,
        MailKind.AGENT_NOTIFICATION,
        agent,
        contact,
        ticket,
        context,
        locale,
        attachments=files,
        reply_to=agent_reply_address(ctx, contact, ticket, agent, now),
    )
    _queue(ctx, session, draft, ticket, dedupe_key, now, message.id if message else None)


def send_notice(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket | None,
    to_address: str,
    to_name: str,
    line: str,
    dedupe_key: str,
    now: datetime,
    caused_by: int | None = None,
    reply_to: str | None = None,
) -> None:
    """Queue a one-line notice to an agent (a command result, a warning, a transfer); `reply_to`: a signed reply
    address, for a notice the agent may answer with a command (`#cancel`, `#send`)."""
    contact = session.get(Contact, ticket.contact_id) if ticket else None
    context = {
        "line": line,
        "number": ticket.number if ticket else "-",
        "subject": ticket.subject if ticket else "",
        "reference_line": reference_line(ticket.number) if ticket else "",
    }
    # The notice is in the language of the agent with this address (callers name them by address only).
    locale = mail_locale(ctx, agent_rows.find_agent(session, to_address), contact)
    recipient = Agent(name=to_name, email=to_address)
    draft = _agent_draft(ctx, MailKind.AGENT_NOTICE, recipient, contact, ticket, context, locale, reply_to=reply_to)
    _queue(ctx, session, draft, ticket, dedupe_key, now, caused_by)


def send_forward(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    outsider: str,
    comment: str,
    dedupe_key: str,
    now: datetime,
    caused_by: int | None,
) -> None:
    """Queue the thread to an outsider with the agent's comment; their answer comes back to the agent."""
    contact = session.get(Contact, ticket.contact_id)
    # An outsider has no locale of their own: the Contact's, else [support] default_locale.
    locale = mail_locale(ctx, None, contact)
    context = {
        "comment": shown_agent_text(comment),
        "agent_name": agent.name or agent.email,
        "thread": thread_entries(session, ticket, locale, for_outsider=True),
        "reference_line": reference_line(ticket.number),
    }
    recipient = Agent(name="", email=outsider)
    draft = _agent_draft(
        ctx,
        MailKind.AGENT_FORWARD,
        recipient,
        contact,
        ticket,
        context,
        locale,
        reply_to=agent_reply_address(ctx, contact, ticket, agent, now, purpose=FORWARD),
        subject_prefix="Fwd: ",
    )
    _queue(ctx, session, draft, ticket, dedupe_key, now, caused_by)


def _agent_draft(
    ctx: MailContext,
    kind: str,
    agent: Agent,
    contact: Contact | None,
    ticket: Ticket | None,
    context: dict,
    locale: str,
    *,
    attachments: tuple[OutgoingAttachment, ...] = (),
    reply_to: str | None = None,
    subject_prefix: str = "",
) -> OutgoingDraft:
    support = ctx.support
    subject = (
        format_subject(support.ticket_subject_format, ticket.number, ticket.subject or "(no subject)")
        if ticket
        else "mailbridge"
    )
    return OutgoingDraft(
        kind=kind,
        from_name=support.from_name,
        from_address=contact.email if contact else support.from_address,
        to_name=agent.name,
        to_address=agent.email,
        subject=subject_prefix + subject,
        body=render(ctx.templates, kind, locale, context),
        in_reply_to=None,
        references=(),
        auto_submitted="auto-generated",
        instance_id=ctx.instance_id,
        reply_to=reply_to,
        attachments=attachments,
    )


def _queue(
    ctx: MailContext,
    session: Session,
    draft: OutgoingDraft,
    ticket: Ticket | None,
    dedupe_key: str,
    now: datetime,
    caused_by: int | None,
) -> None:
    if ticket is not None:
        draft = _about_ticket(ctx, session, draft, ticket)
    mail = compose(draft, ctx.new_message_id(draft.from_address), now)
    outbox_queue.enqueue(
        session=session,
        mail=mail,
        sign=ctx.sign,
        dedupe_key=dedupe_key,
        kind=draft.kind,
        ticket_id=ticket.id if ticket else None,
        now=now,
        is_automatic=False,
        caused_by_message_id=caused_by,
    )
    if ticket is not None:
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor="system",
            kind=EventKind.MAIL_QUEUED,
            reason=f"{draft.kind} to {draft.to_address}",
            now=now,
        )
    log.info("queued kind=%s to=%s ticket=%s", draft.kind, draft.to_address, ticket.number if ticket else None)


def _about_ticket(ctx: MailContext, session: Session, draft: OutgoingDraft, ticket: Ticket) -> OutgoingDraft:
    """Chain a mail about a ticket to the earlier ones to the same reader; to an agent, From names the customer."""
    thread = agent_thread(session, ticket, draft.to_address)
    draft = replace(draft, in_reply_to=thread.in_reply_to, references=thread.references)
    if draft.kind == MailKind.AGENT_FORWARD:
        # An outsider gets the thread from the support, not a mail that seems to come from the customer.
        return draft
    customer = session.get(Customer, ticket.customer_id)
    # The signed Reply-To keeps the support's own name.
    return replace(
        draft, from_name=from_name_about(ctx, customer), reply_to_name=draft.reply_to_name or draft.from_name
    )


def from_name_about(ctx: MailContext, customer: Customer) -> str:
    """The From display name of agent mail about a customer's ticket: "Giulia Bianchi via Support"."""
    who = clean_header_text(safe_display_name(customer.name) or customer.email, FROM_NAME_CHARS)
    return f"{who} via {ctx.support.from_name}"


_EARLIER_TO_READER = (
    select(OutboxMail.message_id)
    .where(
        OutboxMail.ticket_id == bindparam("ticket_id"),
        OutboxMail.rcpt_to == bindparam("address"),
        OutboxMail.kind.not_in(CUSTOMER_MAIL_KINDS),
    )
    .order_by(OutboxMail.id)
)


def agent_thread(session: Session, ticket: Ticket, address: str) -> ThreadHeaders:
    """Thread the next mail to `address` about a ticket: In-Reply-To the last one we sent there, References all."""
    earlier = session.scalars(_EARLIER_TO_READER, {"ticket_id": ticket.id, "address": address})
    return thread_for_agent(list(earlier))


def message_text(message: Message) -> str:
    """The text an agent reads of a message: the stripped text when there is one."""
    return (message.stripped_text or message.text_body or "").strip()


def mail_locale(ctx: MailContext, agent: Agent | None, contact: Contact | None) -> str:
    """The language of mail to an agent (or, with no agent, to an outsider): `language.agent_locale`."""
    default = ctx.support.default_locale
    return agent_locale(agent.locale if agent else None, contact.locale if contact else None, default)


def history_line(session: Session, ticket: Ticket, locale: str) -> str:
    """One line of history: messages so far, when opened, who has it."""
    count = len(session.exec(select(Message.id).where(Message.ticket_id == ticket.id)).all())
    opened = ticket.created_at.strftime("%Y-%m-%d %H:%M") if ticket.created_at else "?"
    return history_words(count, opened, ticket.assigned_agent, locale)


# Never shown: our own mail coming back and replies that failed the agent checks.
_NEVER_SHOWN = frozenset({MessageKind.ECHO, MessageKind.FORGED_AGENT_REPLY})
# Not for an outsider: internal notes, and agents' mails to the desk (their answers show as AGENT_REPLY).
_INTERNAL = frozenset({MessageKind.AGENT_NOTE, MessageKind.AGENT_REPLY_IN})


def thread_entries(session: Session, ticket: Ticket, locale: str, for_outsider: bool = False) -> list[ThreadEntry]:
    """Every customer, agent and outsider message of a ticket, oldest first, labelled in the locale.

    An agent's own mail is shown without its command lines; an outsider sees no notes and no agent's mail to the desk.
    """
    hidden = _NEVER_SHOWN | (_INTERNAL if for_outsider else frozenset())
    rows = session.exec(select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id))
    entries = []
    for m in rows:
        text = message_text(m)
        if m.kind == MessageKind.AGENT_REPLY_IN:
            text = shown_agent_text(text)
        if m.kind in hidden or (m.kind == MessageKind.AGENT_REPLY_IN and not text):
            continue
        who = f"{message_words(m.kind, locale)} {m.from_addr or ''}".strip()
        entries.append(ThreadEntry(who, f"{m.stored_at:%Y-%m-%d %H:%M}" if m.stored_at else "", text[:THREAD_CHARS]))
    return entries


def text_module_names(session: Session, contact_id: int) -> list[str]:
    """Return the distinct names of a Contact's text modules."""
    return sorted(set(session.exec(select(TextModule.name).where(TextModule.contact_id == contact_id))))
