"""The CLI's ticket actions as agents: one transaction each, at the app's `now`.

`tickets status|assign|reply|note|merge|split` call these; the work itself is the service layer's, the same that an
agent's mail causes.
"""

from __future__ import annotations

from mailbridge.decisions.kinds import TicketStatus
from mailbridge.runtime.app import App
from mailbridge.service import agent_desk, answer_window, notices, ticket_merge
from mailbridge.store import db
from mailbridge.store.models import Ticket


def change_status(app: App, number: str, target: TicketStatus, actor: str, reason: str = "") -> Ticket:
    """Set a ticket's status, with its event and any notice, in one commit."""
    with db.transaction(app.engine) as session:
        return notices.change_status(
            app.mail, session=session, number=number, target=target, actor=actor, now=app.clock.now(), reason=reason
        )


def act_as_agent(app: App, *, number: str, agent_email: str, text: str, is_note: bool) -> list[str]:
    """Answer or note a ticket as an agent; return the problems found in the text's commands."""
    with db.transaction(app.engine) as session:
        return agent_desk.act_as_agent(
            app.mail,
            session=session,
            number=number,
            agent_email=agent_email,
            text=text,
            is_note=is_note,
            now=app.clock.now(),
        )


def run_action(app: App, *, number: str, name: str, agent_email: str | None, text: str) -> list[str]:
    """Run a named action on a ticket as an agent (the assigned one by default); return the problems.

    Raises: CommandError for an action not configured or a ticket with no agent to act; NotFoundError.
    """
    with db.transaction(app.engine) as session:
        return agent_desk.run_action_by_number(
            app.mail,
            session=session,
            number=number,
            name=name,
            agent_email=agent_email,
            text=text,
            now=app.clock.now(),
        )


def assign(app: App, *, number: str, agent_email: str, actor: str) -> Ticket:
    """Transfer a ticket to an agent."""
    with db.transaction(app.engine) as session:
        return agent_desk.assign_by_number(
            app.mail, session=session, number=number, agent_email=agent_email, actor=actor, now=app.clock.now()
        )


def merge(app: App, *, target: str, source: str, actor: str) -> int:
    """Merge ticket `source` into `target`, telling its customer, in one commit; return how many messages moved."""
    with db.transaction(app.engine) as session:
        return ticket_merge.merge_by_numbers(
            app.mail, session=session, target=target, source=source, actor=actor, now=app.clock.now()
        )


def split(app: App, *, number: str, message_row_id: int, actor: str) -> tuple[str, int]:
    """Split a new topic off a ticket into a new ticket, in one commit; return its number and how many messages moved."""
    with db.transaction(app.engine) as session:
        result = ticket_merge.split_ticket(
            app.mail, session=session, number=number, message_row_id=message_row_id, actor=actor, now=app.clock.now()
        )
        return result.ticket.number, result.moved


def cancel_answers(app: App, *, number: str, actor: str) -> int:
    """Take back the ticket's answers still in their undo window; return how many."""
    with db.transaction(app.engine) as session:
        return answer_window.cancel_by_number(
            app.mail, session=session, number=number, actor=actor, now=app.clock.now()
        )
