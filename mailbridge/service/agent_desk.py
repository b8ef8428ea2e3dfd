"""Applying an agent's answer, from their mail client (intake) or the CLI, inside the caller's session.

Input: the ticket, the agent and the new text of their reply. The leading commands are parsed
(`agent_commands`), text modules inserted, and then: a problem goes back to the agent as one line
and nothing reaches the customer; a `#note` is stored only; `#forward` goes to the outsider; any
other text is relayed to the customer from the Contact's address, threaded, and stored as an
outbound Message. Never commits.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlmodel import Session, select

from mailbridge.base.config.actions import ActionSettings
from mailbridge.base.errors import CommandError
from mailbridge.decisions.agent_commands import (
    BLOCKING_COMMANDS,
    STATUS_COMMANDS,
    AgentCommand,
    AgentReply,
    action_of,
    category_path,
    insert_text_modules,
    parse_agent_reply,
    text_module_names,
)
from mailbridge.decisions.held_answers import CANCEL, Recall, carried_status, held_command, release_time
from mailbridge.decisions.inbound.language import FALLBACK, customer_locale
from mailbridge.decisions.inbound.names import safe_display_name
from mailbridge.decisions.kinds import Direction, EventKind, MailKind, MessageKind, TicketStatus
from mailbridge.decisions.matching.ticket_numbers import format_subject
from mailbridge.decisions.outgoing.compose import OutgoingAttachment, OutgoingDraft, compose, make_address
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.drafts import reference_line, ticket_reply_address
from mailbridge.decisions.outgoing.salutations import surrounding_texts
from mailbridge.decisions.outgoing.templates import render
from mailbridge.decisions.outgoing.wording import phrase
from mailbridge.service import actions, agent_mail, answer_window, notices, ticket_merge
from mailbridge.service.customer_mail import customer_thread
from mailbridge.service.merge_reply import merge_reply_problems
from mailbridge.service.participants import answer_cc_of, apply_cc_commands
from mailbridge.store import agents, blocklist, contacts, outbox_queue, tickets
from mailbridge.store.models import Agent, Attachment, Contact, Customer, Message, TextModule, Ticket

log = logging.getLogger(__name__)
_SANDBOX = SandboxedEnvironment(autoescape=False)
BLOCKING_STATUSES = frozenset(STATUS_COMMANDS[c] for c in BLOCKING_COMMANDS)


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
    body = _fill_text_modules(session, ticket, reply, locale, ctx.support.default_locale)
    problems = list(reply.problems)
    if isinstance(body, list):
        problems, body = problems + body, ""
    problems += [p for p in (_command_problem(session, c) for c in reply.commands) if p]
    command = action_of(reply, [a.name for a in ctx.actions])
    problems += merge_reply_problems(ctx, session, ticket, reply, command)
    action = ctx.action(command.name) if command else None
    action_mail = _action_mail(ctx, session, ticket, agent, action, body, locale, problems)
    relays = (
        (body or action_mail is not None) and not reply.is_note and not any(c.name == "forward" for c in reply.commands)
    )
    customer = session.get(Customer, ticket.customer_id)
    if relays and customer is not None and not writable_address(customer.email):
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
            _apply(ctx, session, ticket, agent, command, now, cause, answered=answered)
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
        if outcome is Recall.ALREADY_SENT:
            when = answer_window.sent_time(session, rows[0])
            answer_window.tell(
                ctx,
                session=session,
                ticket=ticket,
                agent=agent,
                key="already_sent",
                dedupe_key=f"cancel:{cause}",
                now=now,
                at=when,
            )
        elif outcome is Recall.NOTHING:
            answer_window.tell(
                ctx,
                session=session,
                ticket=ticket,
                agent=agent,
                key="nothing_waiting",
                dedupe_key=f"cancel:{cause}",
                now=now,
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
        set_status(
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
            _apply(ctx, session, target, agent, other, now, cause, answered=False)


def _command_problem(session: Session, command: AgentCommand) -> str | None:
    if command.name == "assign":
        target = agents.find_agent(session, command.argument)
        return None if target and target.active else f"#assign: no active agent {command.argument}"
    if command.name == "requester":
        return "#requester: forward the customer's mail to the support address itself, with #requester first"
    if command.name == "forward" and not writable_address(command.argument):
        return f"#forward: {command.argument!r} is not an address a mail can be sent to"
    return None


def writable_address(address: str) -> bool:
    """Whether a mail header can carry this address (compose.make_address accepts it)."""
    try:
        make_address("", address)
    except ValueError:
        return False
    return True


def _apply(
    ctx: MailContext,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    command: AgentCommand,
    now: datetime,
    cause: str,
    *,
    answered: bool,
) -> None:
    actor = f"agent:{agent.email}"
    if command.name in STATUS_COMMANDS:
        set_status(
            ctx,
            session=session,
            ticket=ticket,
            actor=actor,
            target=TicketStatus(STATUS_COMMANDS[command.name]),
            now=now,
            answered=answered,
        )
        if command.name in BLOCKING_COMMANDS and ticket.status == TicketStatus.SPAM:
            block_sender(ctx, session=session, ticket=ticket, actor=actor, now=now)
    elif command.name == "assign":
        assign(
            ctx,
            session=session,
            ticket=ticket,
            agent=agents.find_agent(session, command.argument),
            actor=actor,
            now=now,
            cause=cause,
        )
    elif command.name == "category":
        ticket.category = category_path(command.argument)
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor=actor,
            kind=EventKind.CATEGORY_CHANGED,
            reason=ticket.category,
            now=now,
        )


def block_sender(ctx: MailContext, *, session: Session, ticket: Ticket, actor: str, now: datetime) -> None:
    """Put the customer of a ticket marked spam on the blocklist (`customers unblock` undoes it); never our own."""
    customer = session.get(Customer, ticket.customer_id)
    if customer is None or customer.email in ctx.own_addresses:
        return
    try:
        added = blocklist.block(
            session=session, entry=customer.email, reason=f"#spam on ticket #{ticket.number}", actor=actor, now=now
        )
    except CommandError:
        # An address no entry can name (a broken sender's): the ticket is spam, nothing to block.
        return
    if added:
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor=actor,
            kind=EventKind.SENDER_BLOCKED,
            reason=f"{customer.email}: their mail is stored as spam and gets no automatic mail",
            now=now,
        )


def set_status(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    actor: str,
    target: TicketStatus,
    now: datetime,
    answered: bool = False,
) -> None:
    """Move the ticket as an agent, with the notices the move plans ("we started handling", unless `answered`)."""
    try:
        transition = tickets.take(session, ticket, actor, now, target=target, answered=answered)
    except CommandError as exc:
        tickets.record_event(
            session=session, ticket=ticket, actor=actor, kind=EventKind.STATUS_REFUSED, reason=str(exc), now=now
        )
        return
    notices.enqueue_transition_mails(ctx, session=session, ticket=ticket, transition=transition, now=now)


def assign(
    ctx: MailContext, *, session: Session, ticket: Ticket, agent: Agent, actor: str, now: datetime, cause: str
) -> None:
    """Give the ticket to `agent`: they get the whole thread by mail, the previous agent a short notice."""
    previous = session.get(Agent, ticket.assigned_agent_id) if ticket.assigned_agent_id else None
    if previous is not None and previous.id == agent.id:
        return
    ticket.assigned_agent_id, ticket.assigned_agent = agent.id, agent.email
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind=EventKind.ASSIGNED,
        now=now,
        reason=f"{previous.email if previous else 'unassigned'} -> {agent.email}",
    )
    agent_mail.send_notification(
        ctx,
        session=session,
        ticket=ticket,
        agent=agent,
        message=None,
        now=now,
        headline="assigned",
        dedupe_key=f"assigned:{cause}:{agent.id}",
        with_thread=True,
    )
    if previous is not None:
        agent_mail.send_notice(
            ctx,
            session=session,
            ticket=ticket,
            to_address=previous.email,
            to_name=previous.name,
            line=phrase(
                "transferred",
                agent_mail.mail_locale(ctx, previous, session.get(Contact, ticket.contact_id)),
                name=agent.name or agent.email,
            ),
            dedupe_key=f"unassigned:{cause}:{previous.id}",
            now=now,
        )
    if actor == f"agent:{agent.email}":
        # `#assign` to oneself takes the ticket: the Contact's other agents hear of it once.
        skip = (previous.id,) if previous is not None else ()
        answer_window.tell_of_take(ctx, session=session, ticket=ticket, agent=agent, skip=skip, cause=cause, now=now)


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
    mail = compose(draft, ctx.new_message_id(draft.from_address), now)
    outbox_id = outbox_queue.enqueue(
        session=session,
        mail=mail,
        sign=ctx.sign,
        dedupe_key=f"{MailKind.AGENT_REPLY}:{cause}",
        kind=MailKind.AGENT_REPLY,
        ticket_id=ticket.id,
        now=now,
        is_automatic=False,
        caused_by_message_id=source.id if source else None,  # whom to tell if it cannot be delivered
        not_before=due,
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
        stripped_text=text,
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
        kind=EventKind.AGENT_ANSWERED,
        reason=f"answer to {draft.to_address}" + (f", cc {', '.join(draft.cc)}" if draft.cc else ""),
        now=now,
    )
    if ticket.assigned_agent_id is None:
        ticket.assigned_agent_id, ticket.assigned_agent = agent.id, agent.email
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor=actor,
            kind=EventKind.ASSIGNED,
            now=now,
            reason=f"unassigned -> {agent.email} (first answer)",
        )
        answer_window.tell_of_take(ctx, session=session, ticket=ticket, agent=agent, skip=(), cause=cause, now=now)
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
        set_status(
            ctx, session=session, ticket=ticket, actor=actor, target=TicketStatus.WAITING, now=now, answered=True
        )
    session.flush()
    return copy


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


def ticket_locale(ctx: MailContext, session: Session, ticket: Ticket) -> str:
    """The language the customer is answered in (`language.customer_locale`)."""
    customer = session.get(Customer, ticket.customer_id)
    contact = session.get(Contact, ticket.contact_id)
    return customer_locale(contact.locale, customer.locale, None, ctx.support.default_locale)


def _fill_text_modules(
    session: Session, ticket: Ticket, reply: AgentReply, locale: str, default: str | None = None
) -> str | list[str]:
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
    assign(
        ctx,
        session=session,
        ticket=ticket,
        agent=agent,
        actor=actor,
        now=now,
        cause=f"cli:{ticket.id}:{now.isoformat()}",
    )
    return ticket
