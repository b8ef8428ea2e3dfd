"""Mails to and for agents, queued in the caller's session: notifications with a signed reply address,
warnings, one-line notices, and forwards to outsiders. Called by intake and agent_desk.

None of these answer a customer, so none is counted by the customer loop guard (is_automatic=False);
the ones we generate carry `Auto-Submitted: auto-generated` (RFC 3834).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, select

from mailbridge.decisions.agent_reply import FORWARD
from mailbridge.decisions.kinds import EventKind, MailKind, MessageKind
from mailbridge.decisions.matching.reply_tokens import AGENT, make_token, reply_address
from mailbridge.decisions.matching.ticket_numbers import format_subject
from mailbridge.decisions.outgoing.compose import OutgoingAttachment, OutgoingDraft, compose
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.drafts import reference_line
from mailbridge.decisions.outgoing.templates import render
from mailbridge.store import db, outbox_queue, tickets
from mailbridge.store.models import Agent, AgentContact, Attachment, Contact, Customer, Message, TextModule, Ticket

log = logging.getLogger(__name__)
DEFAULT_AGENT_LOCALE = "en"
THREAD_CHARS = 4000


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
    ctx: MailContext, *, session: Session, ticket: Ticket, message: Message, now: datetime, headline: str
) -> int:
    """Send a customer message to the ticket's agent (else the Contact's active agents); return how many."""
    assigned = session.get(Agent, ticket.assigned_agent_id) if ticket.assigned_agent_id else None
    agents = db.once_per_transaction(
        session, ("contact_agents", ticket.contact_id), lambda: contact_agents(session, ticket.contact_id)
    )
    recipients = choose_recipients(assigned, agents)
    for agent in recipients:
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
    return len(recipients)


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
    """Queue one notification to an agent: the message (or the whole thread), its files, a signed Reply-To."""
    contact = session.get(Contact, ticket.contact_id)
    customer = session.get(Customer, ticket.customer_id)
    files = _attachments(session, message.id) if message else ()
    context = {
        "headline": headline,
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "customer_name": customer.name or customer.email,
        "customer_email": customer.email,
        "history_line": history_line(session, ticket),
        "attachments": [f.filename for f in files],
        "text": message_text(message) if message else "",
        "thread": thread_entries(session, ticket) if with_thread else [],
        "text_modules": text_module_names(session, contact.id),
        "reference_line": reference_line(ticket.number),
    }
    draft = _agent_draft(
        ctx,
        MailKind.AGENT_NOTIFICATION,
        agent,
        contact,
        ticket,
        context,
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
) -> None:
    """Queue a one-line notice to an agent (a command result, a warning, a transfer)."""
    contact = session.get(Contact, ticket.contact_id) if ticket else None
    context = {
        "line": line,
        "number": ticket.number if ticket else "-",
        "subject": ticket.subject if ticket else "",
        "reference_line": reference_line(ticket.number) if ticket else "",
    }
    recipient = Agent(name=to_name, email=to_address)
    draft = _agent_draft(ctx, MailKind.AGENT_NOTICE, recipient, contact, ticket, context)
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
    context = {
        "comment": comment,
        "agent_name": agent.name or agent.email,
        "thread": thread_entries(session, ticket, include_notes=False),
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
        body=render(ctx.templates, kind, agent.locale or DEFAULT_AGENT_LOCALE, context),
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
    mail = compose(draft, ctx.new_message_id(draft.from_address), now)
    outbox_queue.enqueue(
        session=session,
        mail=mail,
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


def _attachments(session: Session, message_id: int) -> tuple[OutgoingAttachment, ...]:
    rows = session.exec(select(Attachment).where(Attachment.message_id == message_id).order_by(Attachment.id))
    return tuple(OutgoingAttachment(a.filename, a.content_type, a.content) for a in rows)


def message_text(message: Message) -> str:
    """The text an agent reads of a message: the stripped text when there is one."""
    return (message.stripped_text or message.text_body or "").strip()


def history_line(session: Session, ticket: Ticket) -> str:
    """One line of history: messages so far, when opened, who has it."""
    count = len(session.exec(select(Message.id).where(Message.ticket_id == ticket.id)).all())
    opened = ticket.created_at.strftime("%Y-%m-%d %H:%M") if ticket.created_at else "?"
    who = ticket.assigned_agent or "unassigned"
    return f"{count} message{'s' if count != 1 else ''}, opened {opened}, {who}"


def thread_entries(session: Session, ticket: Ticket, include_notes: bool = True) -> list[ThreadEntry]:
    """Every customer, agent and outsider message of a ticket, oldest first; notes only for agents."""
    hidden = {MessageKind.ECHO, MessageKind.FORGED_AGENT_REPLY} | (set() if include_notes else {MessageKind.AGENT_NOTE})
    rows = session.exec(select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id))
    return [
        ThreadEntry(
            f"{m.kind} {m.from_addr or ''}".strip(),
            f"{m.stored_at:%Y-%m-%d %H:%M}" if m.stored_at else "",
            message_text(m)[:THREAD_CHARS],
        )
        for m in rows
        if m.kind not in hidden
    ]


def text_module_names(session: Session, contact_id: int) -> list[str]:
    """Return the distinct names of a Contact's text modules."""
    return sorted(set(session.exec(select(TextModule.name).where(TextModule.contact_id == contact_id))))
