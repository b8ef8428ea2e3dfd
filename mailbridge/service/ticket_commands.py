"""An agent's commands applied to a ticket, inside the caller's session: a status (with the notices the move plans;
`#spam` also blocks the sender), `#assign` (the thread to the new agent, a notice to the previous one, the take told
to the Contact's other agents) and `#category`; and the checks of a command only the database can make.
Called by agent_desk. Never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from mailbridge.base.errors import CommandError
from mailbridge.decisions.agent_commands import BLOCKING_COMMANDS, STATUS_COMMANDS, AgentCommand, category_path
from mailbridge.decisions.kinds import EventKind, TicketStatus
from mailbridge.decisions.outgoing.compose import make_address
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.wording import phrase
from mailbridge.service import agent_mail, answer_window, notices
from mailbridge.store import agents, blocklist, tickets
from mailbridge.store.models import Agent, Contact, Customer, Ticket


def command_problem(session: Session, command: AgentCommand) -> str | None:
    """What is wrong with a command that the parser cannot see (the database knows), or None."""
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


def apply_command(
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
    """Apply one command of an agent's reply; `answered`: the reply answered the customer (no "we started" notice)."""
    actor = f"agent:{agent.email}"
    if command.name in STATUS_COMMANDS:
        notices.set_status(
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


def assign(
    ctx: MailContext, *, session: Session, ticket: Ticket, agent: Agent, actor: str, now: datetime, cause: str
) -> None:
    """Give the ticket to `agent`: they get the whole thread by mail, the previous agent a short notice."""
    previous = session.get(Agent, ticket.assigned_agent_id) if ticket.assigned_agent_id else None
    if previous is not None and previous.id == agent.id:
        return
    reason = f"{previous.email if previous else 'unassigned'} -> {agent.email}"
    tickets.assign_agent(session=session, ticket=ticket, agent=agent, actor=actor, reason=reason, now=now)
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
