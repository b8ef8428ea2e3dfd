"""The CLI's ticket actions as agents: one transaction each, at the app's `now`.

`tickets status|assign|reply|note` call these; the work itself is the service layer's, the same that an
agent's mail causes.
"""

from __future__ import annotations

from mailbridge.decisions.kinds import TicketStatus
from mailbridge.runtime.app import App
from mailbridge.service import agent_desk, notices
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


def assign(app: App, *, number: str, agent_email: str, actor: str) -> Ticket:
    """Transfer a ticket to an agent."""
    with db.transaction(app.engine) as session:
        return agent_desk.assign_by_number(
            app.mail, session=session, number=number, agent_email=agent_email, actor=actor, now=app.clock.now()
        )
