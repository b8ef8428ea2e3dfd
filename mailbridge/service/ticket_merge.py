"""Merging two tickets and splitting one, with the mail each causes, in the caller's session; never commits.

Merge (`#merge NUMBER`, `tickets merge A B`): B's messages and its people in Cc join A, B becomes `merged` and points
to A, B's customer is told once (`merged`, threaded to what they saw of B), a survey B still had queued is cancelled.
Split (`tickets split NUMBER --from MESSAGE`): a new topic's messages move to a new ticket of the same customer and
Contact, which gets its receipt and its agents' notification like any new ticket. Both record the change on both
tickets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from mailbridge.base.errors import CommandError
from mailbridge.decisions.agent_commands import AgentCommand
from mailbridge.decisions.kinds import EventKind, MailKind, OutboxStatus, TicketStatus
from mailbridge.decisions.matching.ticket_match import normalise_subject
from mailbridge.decisions.merge import MergeSide, SplitCandidate, messages_moved, plan_merge, plan_split
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.service import agent_mail, notices
from mailbridge.store import merges, outbox_queue, participants, tickets
from mailbridge.store.models import Customer, Message, OutboxMail, Ticket

log = logging.getLogger(__name__)


def merge_side(session: Session, ticket: Ticket) -> MergeSide:
    """What `decisions.merge` reads of a ticket."""
    assert ticket.id is not None, "a stored ticket"
    joined = session.get(Ticket, ticket.merged_into_id) if ticket.merged_into_id else None
    return MergeSide(
        ticket.id,
        ticket.number,
        ticket.status,
        ticket.customer_id,
        ticket.contact_id,
        joined.number if joined else None,
    )


def merge_problem(session: Session, ticket: Ticket, command: AgentCommand) -> str | None:
    """Say why an agent's `#merge NUMBER` on `ticket` cannot be carried out, or None when it can."""
    target = tickets.find_ticket(session=session, number=command.argument)
    if target is None:
        return f"#merge: no ticket with number {command.argument}"
    try:
        plan_merge(merge_side(session, ticket), merge_side(session, target))
    except CommandError as exc:
        return f"#merge: {exc}"
    return None


def merge_tickets(
    ctx: MailContext, *, session: Session, source: Ticket, target: Ticket, actor: str, now: datetime
) -> int:
    """Merge ticket `source` (B) into `target` (A), with B's customer told once; return how many messages moved.

    Raises: CommandError when the merge is refused (decisions.merge.plan_merge).
    """
    plan = plan_merge(merge_side(session, source), merge_side(session, target))
    # Before B's messages move: the notice is threaded to what the customer saw of B.
    notices.enqueue_customer_notice(
        ctx,
        session=session,
        ticket=source,
        kind=MailKind.MERGED,
        dedupe_key=f"{MailKind.MERGED}:{source.id}",
        now=now,
        extra={"target_number": target.number, "target_subject": target.subject},
    )
    _cancel_survey(session, source, actor, now)
    old_status = source.status
    moved = merges.join(session, source=source, target=target, now=now)
    participants.join_from_merge(
        session=session, source=source, target=target, own=ctx.own_addresses, actor=actor, now=now
    )
    tickets.record_event(
        session=session,
        ticket=source,
        actor=actor,
        kind=EventKind.MERGED,
        reason=f"{plan.source_reason}: {messages_moved(moved)}",
        old_status=old_status,
        new_status=source.status,
        now=now,
    )
    reason = plan.target_reason
    if plan.other_customer:
        customer = session.get(Customer, source.customer_id)
        reason += f"; its customer {customer.email if customer else '?'}"
    tickets.record_event(
        session=session,
        ticket=target,
        actor=actor,
        kind=EventKind.MERGED,
        reason=f"{reason}: {messages_moved(moved)}"[:500],
        now=now,
    )
    log.info("merged ticket=%s into=%s messages=%s actor=%s", source.number, target.number, moved, actor)
    return moved


def merge_by_numbers(ctx: MailContext, *, session: Session, target: str, source: str, actor: str, now: datetime) -> int:
    """`tickets merge A B`: merge B into A; return how many messages moved.

    Raises: NotFoundError for an unknown number; CommandError when the merge is refused.
    """
    into = tickets.get_ticket(session=session, number=target)
    merged = tickets.get_ticket(session=session, number=source)
    return merge_tickets(ctx, session=session, source=merged, target=into, actor=actor, now=now)


def _cancel_survey(session: Session, ticket: Ticket, actor: str, now: datetime) -> None:
    """Cancel a survey of the merged ticket that waits for its delay: the request goes on in another ticket."""
    survey = session.exec(
        select(OutboxMail).where(
            OutboxMail.dedupe_key == f"{MailKind.SURVEY}:{ticket.id}",
            col(OutboxMail.status).in_([OutboxStatus.QUEUED, OutboxStatus.HELD]),
        )
    ).first()
    if survey is not None and survey.id is not None:
        outbox_queue.cancel(session=session, outbox_id=survey.id, actor=actor, now=now)


@dataclass(frozen=True)
class SplitResult:
    ticket: Ticket  # the new ticket
    moved: int


def split_ticket(
    ctx: MailContext, *, session: Session, number: str, message_row_id: int, actor: str, now: datetime
) -> SplitResult:
    """`tickets split NUMBER --from MESSAGE`: move a new topic to a new ticket of the same customer and Contact.

    The new ticket is a normal new ticket: its customer gets a receipt with its number, its agents a notification.

    Raises: NotFoundError for an unknown number; CommandError when the message cannot start a ticket.
    """
    ticket = tickets.get_ticket(session=session, number=number)
    if ticket.status in (TicketStatus.MERGED, TicketStatus.SPAM):
        raise CommandError(f"ticket {ticket.number} is {ticket.status}: nothing is split off it")
    rows = list(session.exec(select(Message).where(Message.ticket_id == ticket.id).order_by(col(Message.id))))
    picked = plan_split(ticket.number, [_candidate(row) for row in rows], message_row_id)
    first = next(row for row in rows if row.id == message_row_id)
    customer = session.get(Customer, ticket.customer_id)
    assert customer is not None, "Ticket.customer_id is a NOT NULL foreign key"
    new = tickets.open_ticket(
        session=session,
        contact_id=ticket.contact_id,
        customer=customer,
        subject=first.subject,
        now=now,
        subject_key=normalise_subject(first.subject, ctx.subject_pattern),
        category=ticket.category,
    )
    moved = merges.move_messages(session, source_ticket_id=ticket.id, message_ids=picked, target_ticket_id=new.id)
    tickets.record_event(
        session=session,
        ticket=new,
        actor=actor,
        kind=EventKind.SPLIT,
        reason=f"split off ticket {ticket.number} from message {message_row_id}: {messages_moved(moved)}",
        now=now,
    )
    later = "" if moved <= 1 else f" with the {moved - 1} later one{'' if moved == 2 else 's'}"
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind=EventKind.SPLIT,
        reason=f"message {message_row_id} moved to new ticket {new.number}{later}",
        now=now,
    )
    notices.enqueue_customer_notice(
        ctx, session=session, ticket=new, kind=MailKind.RECEIPT, dedupe_key=f"{MailKind.RECEIPT}:{new.id}", now=now
    )
    # The message was notified once on its old ticket: the new ticket's notification has a key of its own.
    for agent in agent_mail.choose_recipients(None, agent_mail.contact_agents(session, new.contact_id)):
        agent_mail.send_notification(
            ctx,
            session=session,
            ticket=new,
            agent=agent,
            message=first,
            now=now,
            headline="new_ticket",
            dedupe_key=f"{MailKind.AGENT_NOTIFICATION}:split:{new.id}:{agent.id}",
        )
    log.info(
        "split ticket=%s message=%s new=%s messages=%s actor=%s",
        ticket.number,
        message_row_id,
        new.number,
        moved,
        actor,
    )
    return SplitResult(new, moved)


def _candidate(row: Message) -> SplitCandidate:
    assert row.id is not None, "a stored message"
    return SplitCandidate(
        row.id, row.kind, row.direction, row.message_id, row.in_reply_to, tuple(row.references.split())
    )
