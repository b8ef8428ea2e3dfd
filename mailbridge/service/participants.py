"""An agent's `#cc add|remove ADDRESS` and the Cc of a relayed answer, inside the caller's session.

`agent_desk` asks `cc_problems` before it acts (a problem sends nothing, like any bad argument), carries the commands
out with `apply_cc_commands` before it relays the answer (so that answer already has the new Cc), and gives every
relayed answer the Cc `answer_cc_of` picks. Never commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session

from mailbridge.decisions.agent_commands import AgentCommand, cc_argument
from mailbridge.decisions.kinds import EventKind
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.participants import answer_cc, cc_command_problem
from mailbridge.store import participants, tickets
from mailbridge.store.models import Agent, Ticket

log = logging.getLogger(__name__)


def _cc_commands(commands: Iterable[AgentCommand]) -> list[tuple[str, str]]:
    return [found for c in commands if c.name == "cc" and (found := cc_argument(c.argument))]


def cc_problems(
    ctx: MailContext,
    session: Session,
    ticket: Ticket,
    commands: Iterable[AgentCommand],
    joining: Iterable[str] = (),
) -> list[str]:
    """Say what is wrong with the reply's `#cc` commands on this ticket, in order (each sees the ones before it);
    `joining`: the people a merge brings to its Cc before the commands act."""
    wanted = _cc_commands(commands)
    if not wanted:
        return []
    assert ticket.id is not None, "a stored ticket"
    people = participants.people(session, ticket, ctx.own_addresses)
    current = list(dict.fromkeys([*participants.on_ticket(session, ticket.id).active, *joining]))
    problems = []
    for action, address in wanted:
        problem = cc_command_problem(action, address, people, current=current)
        if problem:
            problems.append(problem)
        elif action == "add" and address not in current:
            current.append(address)
        elif action == "remove":
            current.remove(address)
    return problems


def apply_cc_commands(
    *, session: Session, ticket: Ticket, agent: Agent, commands: Iterable[AgentCommand], now: datetime
) -> None:
    """Carry out the reply's `#cc add|remove` commands (checked by `cc_problems` first), each with its event."""
    actor = f"agent:{agent.email}"
    for action, address in _cc_commands(commands):
        if action == "add":
            participants.add(session=session, ticket=ticket, address=address, added_by="agent", actor=actor, now=now)
        else:
            participants.remove(session=session, ticket=ticket, address=address, actor=actor, now=now)


def answer_cc_of(ctx: MailContext, session: Session, ticket: Ticket, now: datetime) -> tuple[str, ...]:
    """The Cc of an answer relayed now: the ticket's participants but those that get no mail now (bounced, blocked)."""
    assert ticket.id is not None, "a stored ticket"
    active = participants.on_ticket(session, ticket.id).active
    if not active:
        return ()
    suppressed = participants.suppressed_among(session, active, now)
    cc = answer_cc(active, participants.people(session, ticket, ctx.own_addresses), suppressed=suppressed)
    left_out = [a for a in active if a not in cc]
    if left_out:
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor="system",
            kind=EventKind.MAIL_SUPPRESSED,
            reason=f"answer not sent in Cc to {', '.join(left_out)}: no mail to them now (bounced, flooding or blocked,"
            " or since become an agent's or our address)"[:500],
            now=now,
        )
        log.info("cc left out ticket=%s addresses=%s", ticket.number, ",".join(left_out))
    return cc
