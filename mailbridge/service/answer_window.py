"""Answers that wait, inside the caller's session (issue 19): the undo window and collision control.

An agent's relayed answer is queued due `[agents] send_delay_seconds` later and gets a `HeldAnswer` row (WAITING)
holding the status change it carried; the agent gets a confirmation they can answer `#cancel`. When delivery claims
the answer's outbox row, `release_claimed` applies that status change in the claim's own transaction (once: the
claim locks the row). `recall` takes waiting answers back (`#cancel`, `tickets cancel`). An answer written to an
out-of-date notification is kept as a note (`hold_stale`, state STALE) until the agent replies `#send`.
Called by agent_desk, agent_intake and (through the runtime's hook) outbox delivery. Never commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from mailbridge.base.clock import utc
from mailbridge.base.errors import CommandError
from mailbridge.decisions.held_answers import (
    Collision,
    HeldState,
    Recall,
    TicketChange,
    find_collision,
    recall_of,
    seen_time,
    without_recalled,
)
from mailbridge.decisions.kinds import EventKind, MessageKind, OutboxStatus, TicketStatus
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.held_words import clock_words, held_phrase
from mailbridge.service import agent_mail, notices
from mailbridge.store import outbox_queue, tickets
from mailbridge.store.models import Agent, Contact, HeldAnswer, Message, OutboxMail, Ticket, TicketEvent

log = logging.getLogger(__name__)


def tell(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    key: str,
    dedupe_key: str,
    now: datetime,
    with_reply_address: bool = False,
    at: datetime | None = None,
    **values: object,
) -> None:
    """Queue one notice about a held answer to its agent, in their locale; with a signed reply address when they
    may answer it with `#cancel` or `#send`. `at`: the phrase's {time}, said in the Contact's `[sla]` zone."""
    contact = session.get(Contact, ticket.contact_id)
    zone = ZoneInfo(ctx.sla.for_contact(contact.name if contact else None).timezone)
    time = clock_words(at, now, zone)
    line = held_phrase(key, agent_mail.mail_locale(ctx, agent, contact), number=ticket.number, time=time, **values)
    reply_to = agent_mail.agent_reply_address(ctx, contact, ticket, agent, now) if with_reply_address else None
    agent_mail.send_notice(
        ctx,
        session=session,
        ticket=ticket,
        to_address=agent.email,
        to_name=agent.name,
        line=line,
        dedupe_key=dedupe_key,
        now=now,
        reply_to=reply_to,
    )


def hold_for_window(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    outbox_id: int,
    copy: Message,
    text: str,
    pending_status: str | None,
    due: datetime,
    now: datetime,
    source: Message | None,
) -> HeldAnswer:
    """Record a relayed answer that waits until `due`, with the status it moves the ticket to then; confirm it."""
    held = _held_answer(
        ticket,
        agent,
        HeldState.WAITING,
        text,
        source.id if source else None,
        now,
        outbox_id=outbox_id,
        copy_message_id=copy.id,
        pending_status=pending_status,
        due_at=due,
    )
    return _keep(
        ctx,
        session,
        ticket,
        agent,
        held,
        event=EventKind.ANSWER_WAITING,
        reason=f"outbox {outbox_id} goes out at {due.isoformat(timespec='seconds')}"
        + (f", then status {pending_status}" if pending_status else ""),
        key="waiting",
        dedupe_prefix="answer_waiting",
        now=now,
        at=due,
    )


def _held_answer(
    ticket: Ticket, agent: Agent, state: HeldState, text: str, source_id: int | None, now: datetime, **columns: object
) -> HeldAnswer:
    """A new held answer of `agent` on the ticket; `columns`: those of a waiting answer."""
    return HeldAnswer(
        ticket_id=ticket.id,
        agent_id=agent.id,
        state=state,
        text=text,
        source_message_id=source_id,
        created_at=now,
        **columns,
    )


def _keep(
    ctx: MailContext,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    held: HeldAnswer,
    *,
    event: EventKind,
    reason: str,
    key: str,
    dedupe_prefix: str,
    now: datetime,
    at: datetime,
    **values: object,
) -> HeldAnswer:
    """Store a held answer, record `event` on the ticket and tell its agent (who may answer `#cancel` or `#send`)."""
    session.add(held)
    session.flush()
    tickets.record_event(
        session=session, ticket=ticket, actor=f"agent:{agent.email}", kind=event, reason=reason, now=now
    )
    tell(
        ctx,
        session=session,
        ticket=ticket,
        agent=agent,
        key=key,
        dedupe_key=f"{dedupe_prefix}:{held.id}",
        now=now,
        with_reply_address=True,
        at=at,
        **values,
    )
    return held


def release_claimed(ctx: MailContext, *, session: Session, outbox_ids: Iterable[int], now: datetime) -> int:
    """Apply the status change of each waiting answer among mails just claimed for sending; return how many.

    Runs in the claim's transaction: the claim locked the rows, so each answer is released once, by one sender.
    """
    ids = list(outbox_ids)
    if not ids:
        return 0
    rows = session.exec(
        select(HeldAnswer)
        .where(col(HeldAnswer.outbox_id).in_(ids), HeldAnswer.state == HeldState.WAITING)
        .with_for_update()
    ).all()
    for held in rows:
        held.state, held.finished_at = HeldState.RELEASED, now
        ticket, agent = session.get(Ticket, held.ticket_id), session.get(Agent, held.agent_id)
        actor = f"agent:{agent.email}"
        tickets.record_response(ticket=ticket, actor=actor, now=now)
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor=actor,
            kind=EventKind.ANSWER_RELEASED,
            reason=f"outbox {held.outbox_id}",
            now=now,
        )
        if held.pending_status:
            # As the answer's agent, with the mails the move plans (a survey on closing).
            notices.set_status(
                ctx,
                session=session,
                ticket=ticket,
                actor=actor,
                target=TicketStatus(held.pending_status),
                now=now,
                answered=True,
            )
        log.info("answer released ticket=%s outbox_id=%s status=%s", ticket.number, held.outbox_id, ticket.status)
    return len(rows)


def recall(
    ctx: MailContext, *, session: Session, ticket: Ticket, agent: Agent | None, actor: str, now: datetime
) -> tuple[Recall, list[HeldAnswer]]:
    """Take back the ticket's waiting answers (only `agent`'s, when given); tell each author.

    With nothing waiting: ALREADY_SENT and the last released answer, or NOTHING.
    """
    query = select(HeldAnswer).where(HeldAnswer.ticket_id == ticket.id).order_by(col(HeldAnswer.id))
    if agent is not None:
        query = query.where(HeldAnswer.agent_id == agent.id)
    rows = session.exec(query.where(HeldAnswer.state == HeldState.WAITING)).all()
    recalled = [held for held in rows if _recall_one(ctx, session, ticket, held, actor, now)]
    if recalled:
        return Recall.RECALLED, recalled
    released = session.exec(query.where(HeldAnswer.state == HeldState.RELEASED)).all()
    if released:
        return Recall.ALREADY_SENT, [released[-1]]
    return Recall.NOTHING, []


def _recall_one(
    ctx: MailContext, session: Session, ticket: Ticket, held: HeldAnswer, actor: str, now: datetime
) -> bool:
    # The outbox row first, as a claim locks it: a sender that claimed it meanwhile has released the answer.
    outbox = session.get(OutboxMail, held.outbox_id, with_for_update=True)
    session.refresh(held, with_for_update=True)
    if recall_of(HeldState(held.state)) is not Recall.RECALLED or outbox is None:
        return False
    if outbox.status == OutboxStatus.QUEUED:
        outbox_queue.cancel(session=session, outbox_id=outbox.id, actor=actor, now=now)
    held.state, held.finished_at = HeldState.CANCELLED, now
    copy = session.get(Message, held.copy_message_id) if held.copy_message_id else None
    if copy is not None:
        # Kept as a note: agents still read it, the customer never saw it.
        copy.kind = MessageKind.AGENT_NOTE
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind=EventKind.ANSWER_RECALLED,
        reason=f"outbox {held.outbox_id} taken back; kept as a note",
        now=now,
    )
    author = session.get(Agent, held.agent_id)
    tell(ctx, session=session, ticket=ticket, agent=author, key="recalled", dedupe_key=f"recalled:{held.id}", now=now)
    log.info("answer recalled ticket=%s outbox_id=%s actor=%s", ticket.number, held.outbox_id, actor)
    return True


def sent_time(session: Session, held: HeldAnswer) -> datetime | None:
    """When a released answer was sent (else when it was released: it is being sent)."""
    outbox = session.get(OutboxMail, held.outbox_id) if held.outbox_id else None
    return utc(outbox.sent_at if outbox is not None and outbox.sent_at else held.finished_at)


def collision_for(session: Session, ticket: Ticket, agent: Agent, reply: Message) -> Collision | None:
    """Whether an agent's reply answers one of our mails that another agent's answer or a reassignment overtook."""
    reply_ids = [i for i in (reply.in_reply_to, *reply.references.split()) if i]
    sent = {
        message_id: utc(created_at)
        for message_id, created_at in session.exec(
            select(OutboxMail.message_id, OutboxMail.created_at).where(
                OutboxMail.ticket_id == ticket.id,
                OutboxMail.rcpt_to == agent.email,
                col(OutboxMail.message_id).in_(reply_ids),
            )
        )
    }
    seen_at = seen_time(reply_ids, sent)
    if seen_at is None:
        return None
    return find_collision(seen_at, agent.email, _changes_since(session, ticket, seen_at))


def _changes_since(session: Session, ticket: Ticket, since: datetime) -> list[TicketChange]:
    events = session.exec(
        select(TicketEvent.at, TicketEvent.kind, TicketEvent.actor).where(
            TicketEvent.ticket_id == ticket.id,
            col(TicketEvent.kind).in_([EventKind.AGENT_ANSWERED, EventKind.ASSIGNED]),
            col(TicketEvent.at) > since,
        )
    ).all()
    names = {a.email: a.name for a in session.exec(select(Agent))}
    # Answers taken back (`#cancel`, `tickets cancel`, `outbox cancel`) never reached the customer.
    recalled = session.exec(
        select(Agent.email, HeldAnswer.created_at)
        .join(Agent, col(Agent.id) == HeldAnswer.agent_id)
        .where(
            HeldAnswer.ticket_id == ticket.id,
            HeldAnswer.state == HeldState.CANCELLED,
            col(HeldAnswer.created_at) > since,
        )
    ).all()
    changes = []
    for at, kind, actor in events:
        if kind == EventKind.AGENT_ANSWERED and actor.startswith("agent:"):
            email = actor.removeprefix("agent:")
            changes.append(TicketChange(utc(at), "answered", email, names.get(email, "")))
        elif kind == EventKind.ASSIGNED and ticket.assigned_agent:
            # Who has the ticket now is what counts; the time is that of the reassignment.
            changes.append(
                TicketChange(utc(at), "assigned", ticket.assigned_agent, names.get(ticket.assigned_agent, ""))
            )
    return without_recalled(changes, [(email, utc(at)) for email, at in recalled])


def hold_stale(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    agent: Agent,
    row: Message,
    text: str,
    collision: Collision,
    now: datetime,
) -> HeldAnswer:
    """Keep an answer to an out-of-date notification as a note, and ask its agent to confirm it with `#send`."""
    held = _held_answer(ticket, agent, HeldState.STALE, text, row.id, now)
    row.kind = MessageKind.AGENT_NOTE
    change = collision.change
    return _keep(
        ctx,
        session,
        ticket,
        agent,
        held,
        event=EventKind.ANSWER_HELD,
        reason=f"not relayed: {change.agent_email} {change.kind} at {change.at.isoformat(timespec='seconds')}, after "
        "the mail it answers; kept as a note until #send",
        key="stale_answered" if change.kind == "answered" else "stale_assigned",
        dedupe_prefix="answer_held",
        now=now,
        at=change.at,
        name=collision.who,
    )


def take_stale(session: Session, *, ticket: Ticket, agent: Agent, now: datetime) -> list[HeldAnswer]:
    """The agent's answers held back on this ticket, marked confirmed (`#send`): the caller relays them."""
    rows = session.exec(
        select(HeldAnswer)
        .where(HeldAnswer.ticket_id == ticket.id, HeldAnswer.agent_id == agent.id, HeldAnswer.state == HeldState.STALE)
        .order_by(col(HeldAnswer.id))
        .with_for_update()
    ).all()
    for held in rows:
        held.state, held.finished_at = HeldState.CONFIRMED, now
    return list(rows)


def tell_of_take(
    ctx: MailContext, *, session: Session, ticket: Ticket, agent: Agent, skip: Iterable[int], cause: str, now: datetime
) -> int:
    """Tell the Contact's other active agents once that `agent` took the ticket; return how many were told."""
    skipped = {agent.id, *skip}
    others = [a for a in agent_mail.contact_agents(session, ticket.contact_id) if a.active and a.id not in skipped]
    for other in others:
        tell(
            ctx,
            session=session,
            ticket=ticket,
            agent=other,
            key="taken",
            dedupe_key=f"taken:{cause}:{other.id}",
            now=now,
            name=agent.name or agent.email,
        )
    return len(others)


def cancel_by_number(ctx: MailContext, *, session: Session, number: str, actor: str, now: datetime) -> int:
    """`tickets cancel`: take back every answer of the ticket still waiting out its undo window; return how many.

    Raises: NotFoundError for an unknown ticket; CommandError when no answer is waiting (with when the last went).
    """
    ticket = tickets.get_ticket(session=session, number=number)
    outcome, rows = recall(ctx, session=session, ticket=ticket, agent=None, actor=actor, now=now)
    if outcome is Recall.ALREADY_SENT:
        when = sent_time(session, rows[0])
        at = when.isoformat(timespec="seconds") if when else "?"
        raise CommandError(f"ticket {ticket.number} has no answer waiting: the last one was sent at {at}")
    if outcome is Recall.NOTHING:
        raise CommandError(f"ticket {ticket.number} has no answer waiting to be sent")
    return len(rows)
