"""Intake's branches for agents' mail: a reply to a signed agent address (support+a.<token>@...), an
agent's `#requester` forward of a customer's mail to such an address, and an outsider's answer to a
`#forward` (support+f.<token>@...). Runs inside intake's transaction.

The row is already stored; this decides (agent_reply.judge_agent_reply) and then relays it through
agent_desk, or flags it `forged_agent_reply` and warns the real agent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.parser import BytesHeaderParser

from sqlmodel import Session, select

from mailbridge.decisions.agent_commands import ForwardedMail, parse_agent_reply, unwrap_requester_forward
from mailbridge.decisions.agent_reply import (
    FORWARD,
    AgentIdentity,
    ReplyVerdict,
    find_reply_token,
    judge_agent_reply,
    warning_line,
)
from mailbridge.decisions.held_answers import Collision, answers_customer
from mailbridge.decisions.inbound.mime import decode_header_value
from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.inbound.reply_text import html_to_text
from mailbridge.decisions.kinds import EventKind, MessageKind
from mailbridge.decisions.matching.reply_tokens import AGENT, verify_token
from mailbridge.decisions.matching.ticket_match import normalise_subject
from mailbridge.decisions.outgoing.compose import OutgoingAttachment
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.service import agent_desk, agent_mail, answer_window
from mailbridge.store import agents, merges, outbox_queue, tickets
from mailbridge.store.models import Agent, Attachment, Message, Ticket
from mailbridge.store.raw_files import raw_bytes

log = logging.getLogger(__name__)


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


def handle(
    ctx: MailContext,
    *,
    session: Session,
    row: Message,
    parsed: ParsedMessage,
    route: TokenRoute,
    now: datetime,
    silent: bool = False,
) -> Ticket | None:
    """Relay or refuse the stored message; return its ticket when the token named a real one.

    `silent` (an import): judged, stored and recorded the same, but nothing is relayed, no command is carried out
    and no agent is told.
    """
    claims = verify_token(route.token, ctx.secret, purpose=route.purpose, previous_secrets=ctx.previous_secrets)
    ticket = session.get(Ticket, claims.ticket_id) if claims else None
    if ticket is not None:
        # An answer to a merged ticket's notification acts on the ticket it joined.
        ticket = merges.resolve(session, ticket)
    agent = session.get(Agent, claims.agent_id) if claims and claims.agent_id is not None else None
    if ticket is None:
        claims = None
    identity = AgentIdentity(agent.id, agent.email, agent.active) if agent else None
    by_agent = route.purpose == AGENT
    sender = parsed.from_addr if by_agent else (agent.email if agent else None)
    # An outsider's answer is judged on its token only: the From and the checks are the outsider's.
    verdict = judge_agent_reply(
        claims,
        identity,
        sender=sender,
        today=now.date(),
        max_age_days=ctx.support.reply_token_days,
        from_headers=_header_values(raw_bytes(row), "from") if by_agent else None,
        authentication_results=_header_values(raw_bytes(row), "authentication-results") if by_agent else (),
        authserv_id=ctx.support.authserv_id if by_agent else None,
    )
    row.ticket_id = ticket.id if ticket else None
    forwarded = unwrap_requester_forward(parsed.text_body or html_to_text(parsed.html_body)) if by_agent else None
    if verdict is not ReplyVerdict.ACCEPTED:
        _refuse(ctx, session, row, parsed, ticket, agent, verdict, now, silent=silent)
    elif forwarded is not None:
        # The signed address proves the agent; the notification's ticket only lends its Contact.
        ticket = open_for_requester(
            ctx,
            session=session,
            row=row,
            parsed=parsed,
            forwarded=forwarded,
            agent=agent,
            contact_id=ticket.contact_id,
            now=now,
        )
    elif silent:
        _keep_unsent(session, row, ticket, agent, by_agent, now)
    elif route.purpose == FORWARD:
        row.kind = MessageKind.OUTSIDER_REPLY
        agent_mail.send_notification(
            ctx,
            session=session,
            ticket=ticket,
            agent=agent,
            message=row,
            now=now,
            headline="answer_from",
            dedupe_key=f"outsider:{row.id}",
        )
    elif (collision := _collision(ctx, session, ticket, agent, row)) is not None:
        answer_window.hold_stale(
            ctx,
            session=session,
            ticket=ticket,
            agent=agent,
            row=row,
            text=row.stripped_text or "",
            collision=collision,
            now=now,
        )
    else:
        row.kind = MessageKind.AGENT_REPLY_IN
        agent_desk.handle_agent_text(
            ctx,
            session=session,
            ticket=ticket,
            agent=agent,
            new_text=row.stripped_text or "",
            now=now,
            cause=f"message:{row.id}",
            attachments=_attachments(session, row),
            source=row,
        )
    log.info(
        "agent address mail message_id=%s ticket=%s verdict=%s",
        parsed.message_id,
        ticket.number if ticket else None,
        verdict,
    )
    return ticket


def _collision(ctx: MailContext, session: Session, ticket: Ticket, agent: Agent, row: Message) -> Collision | None:
    """An answer to the customer written to a notification that another agent's answer or a reassignment overtook."""
    reply = parse_agent_reply(row.stripped_text or "", [a.name for a in ctx.actions])
    if not answers_customer(reply):
        return None
    return answer_window.collision_for(session, ticket, agent, row)


def _header_values(raw: bytes, name: str) -> tuple[str, ...]:
    """Every raw value of one header, topmost first: 8-bit bytes decoded, encoded-words kept for the judge."""
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    return tuple(decode_header_value(str(v), words=False) for k, v in headers.raw_items() if k.lower() == name)


def _refuse(
    ctx: MailContext,
    session: Session,
    row: Message,
    parsed: ParsedMessage,
    ticket: Ticket | None,
    agent: Agent | None,
    verdict: ReplyVerdict,
    now: datetime,
    *,
    silent: bool,
) -> None:
    row.kind = MessageKind.FORGED_AGENT_REPLY
    row.defects = "\n".join(d for d in (row.defects, f"not relayed: {verdict}") if d)
    line = warning_line(verdict, parsed.from_addr, ctx.support.reply_token_days)
    if ticket is not None:
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor="system",
            kind=EventKind.FORGED_AGENT_REPLY,
            reason=f"{verdict} from {parsed.from_addr}",
            now=now,
        )
    # The real agent: the one the signed token names, else the agent whose address the mail claims.
    warned = agent or agents.find_agent(session, parsed.from_addr or "")
    # One warning per agent, sender and hour, however many forged replies arrive: the rest are on the ticket.
    key = f"forged:{warned.id if warned else '-'}:{(parsed.from_addr or '').lower()}:{now:%Y%m%dT%H}"
    if warned is not None and not silent and not outbox_queue.is_queued(session=session, dedupe_key=key):
        agent_mail.send_notice(
            ctx,
            session=session,
            ticket=ticket,
            to_address=warned.email,
            to_name=warned.name,
            line=line,
            dedupe_key=key,
            now=now,
            caused_by=row.id,
        )
    log.warning("agent reply refused message_id=%s from=%s verdict=%s", parsed.message_id, parsed.from_addr, verdict)


def _keep_unsent(
    session: Session, row: Message, ticket: Ticket, agent: Agent | None, by_agent: bool, now: datetime
) -> None:
    """Keep an accepted answer from a silent import on its ticket, unsent, its commands not carried out."""
    row.kind = MessageKind.AGENT_REPLY_IN if by_agent else MessageKind.OUTSIDER_REPLY
    who = "agent" if by_agent else "outsider"
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor=f"agent:{agent.email}" if by_agent and agent else "system",
        kind=EventKind.MAIL_SUPPRESSED,
        reason=f"imported silently: the {who}'s answer (message {row.id}) is stored, nothing is sent",
        now=now,
    )
    log.info("agent address mail imported silently message_id=%s ticket=%s", row.message_id, ticket.number)


def _attachments(session: Session, row: Message) -> tuple[OutgoingAttachment, ...]:
    rows = session.exec(select(Attachment).where(Attachment.message_id == row.id).order_by(Attachment.id))
    return tuple(OutgoingAttachment(a.filename, a.content_type, a.content) for a in rows)


def open_for_requester(
    ctx: MailContext,
    *,
    session: Session,
    row: Message,
    parsed: ParsedMessage,
    forwarded: ForwardedMail,
    agent: Agent,
    contact_id: int,
    now: datetime,
) -> Ticket:
    """Open a ticket whose customer is the forwarded mail's sender, assigned to the forwarding agent.

    Called only for a forward sent to the agent's signed reply address and accepted by `judge_agent_reply`:
    a `#requester` forward to the plain support address is ordinary customer mail (issue 16).
    """
    customer = tickets.ensure_customer(session=session, email=forwarded.from_addr, name=forwarded.from_name, now=now)
    subject = forwarded.subject or parsed.subject
    ticket = tickets.open_ticket(
        session=session,
        contact_id=contact_id,
        customer=customer,
        subject=subject,
        now=now,
        subject_key=normalise_subject(subject, ctx.subject_pattern),
    )
    # The forward wrapper disappears: agents read (and `tickets next` finds) only the customer's text.
    row.ticket_id, row.kind, row.stripped_text = ticket.id, "customer", forwarded.text
    ticket.assigned_agent_id, ticket.assigned_agent = agent.id, agent.email
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor=f"agent:{agent.email}",
        kind=EventKind.REQUESTER_SET,
        reason=f"forwarded by {agent.email}; customer {customer.email}",
        now=now,
    )
    log.info("requester forward message_id=%s ticket=%s customer=%s", parsed.message_id, ticket.number, customer.email)
    return ticket
