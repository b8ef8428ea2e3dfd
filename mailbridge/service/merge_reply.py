"""An agent's reply with `#merge NUMBER`, checked before anything happens, inside the caller's session.

`agent_desk` asks `merge_reply_problems` for every reply: with `#merge`, the reply's other commands act on the ticket
it merges into, so its `#cc add|remove` are checked there (with the people the merge brings along); the commands
that would mail someone from the merged ticket (`#forward`, a named action) are refused. Never commits.
"""

from __future__ import annotations

from sqlmodel import Session

from mailbridge.decisions.agent_commands import AgentCommand, AgentReply
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.service import ticket_merge
from mailbridge.service.participants import cc_problems
from mailbridge.store import participants, tickets
from mailbridge.store.models import Ticket


def merge_reply_problems(
    ctx: MailContext, session: Session, ticket: Ticket, reply: AgentReply, action: AgentCommand | None
) -> list[str]:
    """What stops the reply's commands: its `#cc` problems on the ticket they act on, and for `#merge NUMBER` one
    merge per reply, no `#forward` or named action beside it, a merge the plan allows."""
    merges = [c for c in reply.commands if c.name == "merge"]
    if not merges:
        return cc_problems(ctx, session, ticket, reply.commands)
    if len(merges) > 1:
        return ["#merge: one merge per reply"]
    if any(c.name == "forward" for c in reply.commands):
        return ["#merge and #forward cannot go together: forward from the merged ticket afterwards"]
    if action is not None:
        # The action mails the customer and sets a status: on which ticket would be a guess; the agent says it.
        return [f"#merge and #{action.name} cannot go together: run #{action.name} on the merged ticket afterwards"]
    problem = ticket_merge.merge_problem(session, ticket, merges[0])
    if problem:
        return [problem]
    target = tickets.find_ticket(session=session, number=merges[0].argument)
    assert target is not None, "merge_problem found it"
    joining = participants.merge_plan(session, source=ticket, target=target, own=ctx.own_addresses).added
    return cc_problems(ctx, session, target, reply.commands, joining)
