"""Tell the agent when a mail they wrote cannot be delivered: held after refusals or retries, or bounced.

Called in the transaction that records the failure (outbox delivery, a bounce at intake), so the notice is queued
exactly once with the failure it reports. Automatic mail (receipts, notices, surveys) tells nobody: it stays
visible in `outbox list --status held` and in the ticket's events.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from mailbridge.decisions.kinds import MailKind, OutboxStatus
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.wording import phrase
from mailbridge.service import agent_mail
from mailbridge.store.agents import find_agent
from mailbridge.store.models import Agent, Contact, Message, OutboxMail, Ticket

log = logging.getLogger(__name__)
# The mails an agent wrote: their answer relayed to the customer and their #forward to an outsider.
WRITTEN_BY_AGENT = frozenset({MailKind.AGENT_REPLY, MailKind.AGENT_FORWARD})


def undelivered_line(row: OutboxMail, number: str, locale: str) -> str:
    """The one line the agent reads: what was not delivered, to whom, why, and how it can go out again."""
    key = "undelivered_answer" if row.kind == MailKind.AGENT_REPLY else "undelivered_forward"
    why = phrase("bounced" if row.status == OutboxStatus.BOUNCED else "held", locale)
    return phrase(key, locale, number=number, address=row.rcpt_to, why=why, error=row.last_error, id=row.id)


def tell_author(ctx: MailContext, *, session: Session, row: OutboxMail, now: datetime) -> bool:
    """Queue a notice to the agent who wrote a mail that was held or bounced; return whether one was queued."""
    if row.kind not in WRITTEN_BY_AGENT or row.ticket_id is None:
        return False
    ticket = session.get(Ticket, row.ticket_id)
    agent = _author(session, row, ticket)
    if ticket is None or agent is None or not agent.active:
        log.warning("undelivered outbox_id=%s kind=%s: no agent to tell", row.id, row.kind)
        return False
    agent_mail.send_notice(
        ctx,
        session=session,
        ticket=ticket,
        to_address=agent.email,
        to_name=agent.name,
        line=undelivered_line(
            row, ticket.number, agent_mail.mail_locale(ctx, agent, session.get(Contact, ticket.contact_id))
        ),
        # One notice per failed attempt series: a retry that fails again tells again.
        dedupe_key=f"undelivered:{row.id}:{row.status}:{row.attempts}",
        now=now,
        caused_by=row.caused_by_message_id,
    )
    return True


def _author(session: Session, row: OutboxMail, ticket: Ticket | None) -> Agent | None:
    """The agent whose mail caused the row (its From), else the ticket's assignee (a relay from the CLI)."""
    source = session.get(Message, row.caused_by_message_id) if row.caused_by_message_id else None
    agent = find_agent(session, source.from_addr) if source and source.from_addr else None
    if agent is None and ticket is not None and ticket.assigned_agent_id:
        agent = session.get(Agent, ticket.assigned_agent_id)
    return agent
