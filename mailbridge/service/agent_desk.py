"""Applying an agent's answer, from their mail client (intake) or the CLI, inside the caller's session.

Input: the ticket, the agent and the new text of their reply. The leading commands are parsed
(`agent_commands`), text modules inserted, and then: a problem goes back to the agent as one line
and nothing reaches the customer; a `#note` is stored only; `#forward` goes to the outsider; any
other text is relayed to the customer from the Contact's address, threaded, and stored as an
outbound Message (`answer_mail`); the commands are applied by `ticket_commands`. Never commits.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from jinja2 import TemplateError
from sqlmodel import Session, select

from mailbridge.base.config.actions import ActionSettings
from mailbridge.base.errors import CommandError
from mailbridge.decisions.agent_commands import (
    BLOCKING_COMMANDS,
    STATUS_COMMANDS,
    AgentReply,
    action_of,
    category_path,
    parse_agent_reply,
)
from mailbridge.decisions.held_answers import CANCEL, Recall, carried_status, held_command, release_time
from mailbridge.decisions.kinds import Direction, EventKind, MessageKind, TicketStatus
from mailbridge.decisions.outgoing.compose import OutgoingAttachment, OutgoingDraft
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.wording import phrase
from mailbridge.service import actions, agent_mail, answer_window, notices, ticket_commands, ticket_merge
from mailbridge.service.answer_mail import fill_text_modules, relay_answer, ticket_locale
from mailbridge.service.merge_reply import merge_reply_problems
from mailbridge.service.participants import apply_cc_commands
from mailbridge.store import agents, tickets
from mailbridge.store.models import Agent, Attachment, Contact, Customer, Message, Ticket


def handle_agent_text(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    new_text: str,
    now: datetime,
    cause: str,
    attachments: tuple[OutgoingAttachment, ...] = (),
    source: Message | None = None,
) -> list[str]:
    """Carry out an agent's reply; return the problems (then nothing went to the customer)."""
    reply = parse_agent_reply(new_text, [a.name for a in ctx.actions])
    if (held := held_command(reply)) is not None:
        return _act_on_held(ctx, session, ticket, agent, held, now, cause)
    locale = ticket_locale(ctx, session, ticket)
    body = fill_text_modules(session, ticket, reply, locale, ctx.support.default_locale)
    problems = list(reply.problems)
    if isinstance(body, list):
        problems, body = problems + body, ""
    problems += [p for p in (ticket_commands.command_problem(session, c) for c in reply.commands) if p]
    command = action_of(reply, [a.name for a in ctx.actions])
    problems += merge_reply_problems(ctx, session, ticket, reply, command)
    action = ctx.action(command.name) if command else None
    action_mail = _action_mail(ctx, session, ticket, agent, action, body, locale, problems)
    relays = (
        (body or action_mail is not None) and not reply.is_note and not any(c.name == "forward" for c in reply.commands)
    )
    customer = session.get(Customer, ticket.customer_id)
    if relays and customer is not None and not ticket_commands.writable_address(customer.email):
        problems.append(f"the customer's address {customer.email!r} cannot be written in a mail header")
    if not reply.commands and not body and not problems:
        problems.append("the reply has no new text above the quoted mail")
    if problems:
        words = agent_mail.mail_locale(ctx, agent, session.get(Contact, ticket.contact_id))
        line = phrase("nothing_sent", words, problems="; ".join(problems))
        agent_mail.send_notice(
            ctx,
            session=session,
            ticket=ticket,
            to_address=agent.email,
            to_name=agent.name,
            line=line,
            dedupe_key=f"agent_problem:{cause}",
            now=now,
        )
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor=f"agent:{agent.email}",
            kind=EventKind.AGENT_REPLY_REFUSED,
            reason=line[:500],
            now=now,
        )
        return problems
    if any(c.name == "merge" for c in reply.commands):
        _merge_by_reply(ctx, session, ticket, agent, reply, body, now, cause, source)
        return []
    # Before the answer: `#cc add|remove` above a text changes who gets that text in Cc.
    apply_cc_commands(session=session, ticket=ticket, agent=agent, commands=reply.commands, now=now)
    forward = next((c for c in reply.commands if c.name == "forward"), None)
    if action is not None:
        # The action's mail carries the agent's text (or its forward does, to the team): no separate answer.
        run_action(ctx, session, ticket, agent, action, action_mail, body, now, cause, source, reply)
        body = ""
    if reply.is_note:
        store_note(session=session, ticket=ticket, agent=agent, text=reply.note, now=now, source=source)
    elif forward is not None:
        agent_mail.send_forward(
            ctx,
            session=session,
            ticket=ticket,
            agent=agent,
            outsider=forward.argument,
            comment=body,
            dedupe_key=f"forward:{cause}",
            now=now,
            caused_by=source.id if source else None,
        )
    elif body:
        relay_answer(
            ctx,
            session=session,
            ticket=ticket,
            agent=agent,
            text=body,
            attachments=attachments,
            now=now,
            cause=cause,
            explicit_status=any(c.name in STATUS_COMMANDS for c in reply.commands),
            source=source,
            carried=carried_status(reply),
        )
    # A status command beside an answer moves a ticket that was answered: no "we started handling" notice.
    answered = (bool(body) or action_mail is not None) and not reply.is_note and forward is None
    # An answer in the undo window carries its status change: applied when it is released (answer_window).
    waits = bool(body) and answered and release_time(now, ctx.agents.send_delay_seconds) is not None
    for command in reply.commands:
        if not (waits and command.name in STATUS_COMMANDS and command.name not in BLOCKING_COMMANDS):
            ticket_commands.apply_command(ctx, session, ticket, agent, command, now, cause, answered=answered)
    return []


def _act_on_held(
    ctx: MailContext, session: Session, ticket: Ticket, agent: Agent, command: str, now: datetime, cause: str
) -> list[str]:
    """`#cancel`: take the agent's waiting answer back; `#send`: relay the answers held as out of date. The rest of
    such a reply is not read."""
    if command == CANCEL:
        outcome, rows = answer_window.recall(
            ctx, session=session, ticket=ticket, agent=agent, actor=f"agent:{agent.email}", now=now
        )
        if outcome is not Recall.RECALLED:
            sent = outcome is Recall.ALREADY_SENT
            answer_window.tell(
                ctx,
                session=session,
                ticket=ticket,
                agent=agent,
                key="already_sent" if sent else "nothing_waiting",
                dedupe_key=f"cancel:{cause}",
                now=now,
                at=answer_window.sent_time(session, rows[0]) if sent else None,
            )
        return []
    held = answer_window.take_stale(session, ticket=ticket, agent=agent, now=now)
    if not held:
        answer_window.tell(
            ctx, session=session, ticket=ticket, agent=agent, key="nothing_held", dedupe_key=f"send:{cause}", now=now
        )
        return []
    problems = []
    for answer in held:
        source = session.get(Message, answer.source_message_id) if answer.source_message_id else None
        if source is not None:
            source.kind = MessageKind.AGENT_REPLY_IN
        files = (
            tuple(
                OutgoingAttachment(a.filename, a.content_type, a.content)
                for a in session.exec(select(Attachment).where(Attachment.message_id == answer.source_message_id))
            )
            if source is not None
            else ()
        )
        problems += handle_agent_text(
            ctx,
            session=session,
            ticket=ticket,
            agent=agent,
            new_text=answer.text,
            now=now,
            cause=f"held:{answer.id}",
            attachments=files,
            source=source,
        )
    return problems


def _action_mail(
    ctx: MailContext,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    action: ActionSettings | None,
    body: str,
    locale: str,
    problems: list[str],
) -> OutgoingDraft | None:
    """Render an action's mail to the customer before anything happens; a template that fails is a problem."""
    if action is None or action.template is None:
        return None
    # With a team to hand the ticket to, the agent's text is for the team; the customer gets the template alone.
    text = "" if action.forward_to else body
    try:
        return actions.action_draft(ctx, session, ticket=ticket, agent=agent, action=action, text=text, locale=locale)
    except TemplateError as exc:
        problems.append(f"#{action.name}: the template {action.template} does not render ({exc})")
        return None


def run_action(
    ctx: MailContext,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    action: ActionSettings,
    draft: OutgoingDraft | None,
    body: str,
    now: datetime,
    cause: str,
    source: Message | None,
    reply: AgentReply,
) -> None:
    """Carry out a named action: its mail to the customer, the thread to its team, its category and status."""
    actor = f"agent:{agent.email}"
    if draft is not None:
        actions.send_action_mail(
            ctx, session=session, ticket=ticket, agent=agent, draft=draft, now=now, cause=cause, source=source
        )
    if action.forward_to:
        agent_mail.send_forward(
            ctx,
            session=session,
            ticket=ticket,
            agent=agent,
            outsider=action.forward_to,
            comment=body,
            dedupe_key=f"action_forward:{cause}",
            now=now,
            caused_by=source.id if source else None,
        )
    category = category_path(action.category) if action.category else None
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind=EventKind.ACTION_RUN,
        reason=actions.action_summary(action, category)[:500],
        now=now,
    )
    if category and ticket.category != category:
        ticket.category = category
        tickets.record_event(
            session=session, ticket=ticket, actor=actor, kind=EventKind.CATEGORY_CHANGED, reason=category, now=now
        )
    # Without a status of its own, an action that mailed the customer waits on them, as an answer does.
    target = action.status or (TicketStatus.WAITING if draft is not None else None)
    if target and not any(c.name in STATUS_COMMANDS for c in reply.commands):
        notices.set_status(
            ctx, session=session, ticket=ticket, actor=actor, target=TicketStatus(target), now=now, answered=True
        )


def _merge_by_reply(
    ctx: MailContext,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    reply: AgentReply,
    body: str,
    now: datetime,
    cause: str,
    source: Message | None,
) -> None:
    """Merge the ticket into the one `#merge NUMBER` names; the reply's text is a note there, its other commands
    (`#cc` too) act there. Nothing goes to a customer but the merged ticket's one notice (ticket_merge)."""
    command = next(c for c in reply.commands if c.name == "merge")
    target = tickets.get_ticket(session=session, number=command.argument)
    actor = f"agent:{agent.email}"
    ticket_merge.merge_tickets(ctx, session=session, source=ticket, target=target, actor=actor, now=now)
    apply_cc_commands(session=session, ticket=target, agent=agent, commands=reply.commands, now=now)
    text = reply.note if reply.is_note else body
    if text:
        store_note(session=session, ticket=target, agent=agent, text=text, now=now, source=source)
    for other in reply.commands:
        if other.name != "merge":
            ticket_commands.apply_command(ctx, session, target, agent, other, now, cause, answered=False)


def store_note(
    *, session: Session, ticket: Ticket, agent: Agent, text: str, now: datetime, source: Message | None = None
) -> Message:
    """Keep an internal note on the ticket: shown to agents, never sent to the customer."""
    if source is None:
        raw = text.encode()
        source = Message(
            ticket_id=ticket.id,
            direction=Direction.INBOUND,
            from_addr=agent.email,
            from_name=agent.name,
            subject="note",
            text_body=text,
            raw=raw,
            raw_sha256=hashlib.sha256(raw).hexdigest(),
            stored_at=now,
        )
        session.add(source)
    source.kind, source.stripped_text = MessageKind.AGENT_NOTE, text
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor=f"agent:{agent.email}",
        kind=EventKind.NOTE,
        reason=text.splitlines()[0][:200] if text else "",
        now=now,
    )
    session.flush()
    return source


def act_as_agent(
    ctx: MailContext, *, session: Session, number: str, agent_email: str, text: str, is_note: bool, now: datetime
) -> list[str]:
    """`tickets reply|note`: act as an agent, with the same effects as their mail. Returns the problems.

    Raises: NotFoundError for an unknown ticket or agent.
    """
    ticket, agent = tickets.get_ticket(session=session, number=number), agents.get_agent(session, agent_email)
    cause = f"cli:{ticket.id}:{now.isoformat()}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    if is_note:
        store_note(session=session, ticket=ticket, agent=agent, text=text.strip(), now=now)
        return []
    return handle_agent_text(ctx, session=session, ticket=ticket, agent=agent, new_text=text, now=now, cause=cause)


def run_action_by_number(
    ctx: MailContext,
    *,
    session: Session,
    number: str,
    name: str,
    agent_email: str | None,
    text: str,
    now: datetime,
) -> list[str]:
    """`tickets action`: run `#NAME` with the agent's text, as their mail would. Returns the problems.

    Raises: CommandError for an unknown action or no agent; NotFoundError for an unknown ticket or agent.
    """
    action = ctx.action(name.strip().lstrip("#"))
    if action is None:
        known = ", ".join(a.name for a in ctx.actions) or "none; see [actions.NAME] in docs/configuration.md"
        raise CommandError(f"no action named {name!r} (configured: {known})")
    ticket = tickets.get_ticket(session=session, number=number)
    if agent_email is None and ticket.assigned_agent is None:
        raise CommandError(f"ticket {ticket.number} is unassigned: name the agent acting with --agent")
    agent = agents.get_agent(session, agent_email or ticket.assigned_agent or "")
    command = f"#{action.name}\n{text}"
    cause = f"cli-action:{ticket.id}:{now.isoformat()}:{hashlib.sha256(command.encode()).hexdigest()[:12]}"
    return handle_agent_text(ctx, session=session, ticket=ticket, agent=agent, new_text=command, now=now, cause=cause)


def assign_by_number(
    ctx: MailContext, *, session: Session, number: str, agent_email: str, actor: str, now: datetime
) -> Ticket:
    """`tickets assign`: transfer a ticket. Raises: NotFoundError, CommandError for an inactive agent."""
    ticket, agent = tickets.get_ticket(session=session, number=number), agents.get_agent(session, agent_email)
    if not agent.active:
        raise CommandError(f"agent {agent.email} is inactive")
    ticket_commands.assign(
        ctx,
        session=session,
        ticket=ticket,
        agent=agent,
        actor=actor,
        now=now,
        cause=f"cli:{ticket.id}:{now.isoformat()}",
    )
    return ticket
