"""Intake's branch for mail sent to a signed agent address: an agent's reply (support+a.<token>@...)
or an outsider's answer to a `#forward` (support+f.<token>@...). Runs inside intake's transaction.

The row is already stored; this decides (agent_reply.judge_agent_reply) and then relays it through
agent_desk, or flags it `forged_agent_reply` and warns the real agent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from mailbridge import agent_desk, agent_mail, tickets
from mailbridge.agent_reply import (FORWARD, AgentIdentity, ReplyVerdict, find_reply_token, judge_agent_reply,
                                    warning_line)
from mailbridge.app import App
from mailbridge.compose import OutgoingAttachment
from mailbridge.models import Agent, Attachment, Message, Ticket
from mailbridge.parse import ParsedMessage
from mailbridge.reply_tokens import AGENT, TokenClaims, verify_token

log = logging.getLogger(__name__)
AGENT_REPLY = "agent_reply_in"
OUTSIDER_REPLY = "outsider_reply"
FORGED = "forged_agent_reply"


@dataclass(frozen=True)
class TokenRoute:
    purpose: str  # reply_tokens.AGENT or agent_reply.FORWARD
    token: str


def find_route(parsed: ParsedMessage, own_addresses: frozenset[str]) -> TokenRoute | None:
    """Tell whether a message went to an agent or outsider reply address of ours."""
    for purpose in (AGENT, FORWARD):
        token = find_reply_token(parsed, own_addresses, purpose)
        if token is not None:
            return TokenRoute(purpose, token)
    return None


def handle(app: App, *, session: Session, row: Message, parsed: ParsedMessage, route: TokenRoute,
           now: datetime) -> Ticket | None:
    """Relay or refuse the stored message; return its ticket when the token named a real one."""
    claims = verify_token(route.token, app.secret, purpose=route.purpose)
    ticket = session.get(Ticket, claims.ticket_id) if claims else None
    agent = session.get(Agent, claims.agent_id) if claims and claims.agent_id is not None else None
    if ticket is None:
        claims = None
    identity = AgentIdentity(agent.id, agent.email, agent.active) if agent else None
    sender = parsed.from_addr if route.purpose == AGENT else (agent.email if agent else None)
    days = app.settings.support.reply_token_days
    verdict = judge_agent_reply(claims, identity, sender=sender, today=now.date(), max_age_days=days,
                                authentication_results=_auth_results(parsed, route))
    row.ticket_id = ticket.id if ticket else None
    if verdict is not ReplyVerdict.ACCEPTED:
        _refuse(app, session, row, parsed, ticket, agent, verdict, now)
    elif route.purpose == FORWARD:
        row.kind = OUTSIDER_REPLY
        agent_mail.send_notification(app, session=session, ticket=ticket, agent=agent, message=row, now=now,
                                     headline=f"Answer from {parsed.from_addr}", dedupe_key=f"outsider:{row.id}")
    else:
        row.kind = AGENT_REPLY
        agent_desk.handle_agent_text(app, session=session, ticket=ticket, agent=agent, new_text=row.stripped_text or "",
                                     now=now, cause=f"message:{row.id}", attachments=_attachments(session, row),
                                     source=row)
    log.info("agent address mail message_id=%s ticket=%s verdict=%s", parsed.message_id,
             ticket.number if ticket else None, verdict)
    return ticket


def _auth_results(parsed: ParsedMessage, route: TokenRoute) -> str:
    # Only the topmost header counts: it is the one our receiving server added; lower ones can be forged.
    return parsed.headers.get("authentication-results", "") if route.purpose == AGENT else ""


def _refuse(app: App, session: Session, row: Message, parsed: ParsedMessage, ticket: Ticket | None,
            agent: Agent | None, verdict: ReplyVerdict, now: datetime) -> None:
    row.kind = FORGED
    row.defects = "\n".join(d for d in (row.defects, f"not relayed: {verdict}") if d)
    line = warning_line(verdict, parsed.from_addr, app.settings.support.reply_token_days)
    if ticket is not None:
        tickets.record_event(session=session, ticket=ticket, actor="system", kind=FORGED,
                             reason=f"{verdict} from {parsed.from_addr}", now=now)
    # The real agent: the one the signed token names, else the agent whose address the mail claims.
    warned = agent or session.exec(select(Agent).where(Agent.email == (parsed.from_addr or ""))).first()
    if warned is not None and ticket is not None:
        agent_mail.send_notice(app, session=session, ticket=ticket, to_address=warned.email, to_name=warned.name,
                               line=line, dedupe_key=f"forged:{row.id}", now=now, caused_by=row.id)
    elif warned is not None:
        agent_mail.send_notice(app, session=session, ticket=None, to_address=warned.email, to_name=warned.name,
                               line=line, dedupe_key=f"forged:{row.id}", now=now, caused_by=row.id)
    log.warning("agent reply refused message_id=%s from=%s verdict=%s", parsed.message_id, parsed.from_addr, verdict)


def _attachments(session: Session, row: Message) -> tuple[OutgoingAttachment, ...]:
    rows = session.exec(select(Attachment).where(Attachment.message_id == row.id).order_by(Attachment.id))
    return tuple(OutgoingAttachment(a.filename, a.content_type, a.content) for a in rows)
