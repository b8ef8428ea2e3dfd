"""Queue one automatic mail to a customer, unless the loop guard stops it; either way the ticket records it.

The one path every customer notice takes (receipts from intake, notices, surveys, thanks), in the caller's
session: it never sends and never commits.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from mailbridge.decisions.kinds import EventKind
from mailbridge.decisions.outgoing.compose import OutgoingDraft, compose
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.store import outbox_queue, tickets
from mailbridge.store.models import Ticket

log = logging.getLogger(__name__)


def queue_customer_mail(
    ctx: MailContext,
    *,
    session: Session,
    ticket: Ticket,
    draft: OutgoingDraft,
    dedupe_key: str,
    now: datetime,
    caused_by_message_id: int | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Queue an automatic mail to a customer unless the loop guard stops it; record either on the ticket."""
    decision = outbox_queue.check_auto_mail(
        session=session, address=draft.to_address, ticket_id=ticket.id, now=now, limits=ctx.limits
    )
    if not decision.allowed:
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor="system",
            kind=EventKind.MAIL_SUPPRESSED,
            reason=f"{draft.kind} to {draft.to_address}: {decision.reason}",
            now=now,
        )
        log.warning("suppressed kind=%s ticket=%s reason=%s", draft.kind, ticket.number, decision.reason)
        return False
    mail = compose(draft, ctx.new_message_id(draft.from_address), now)
    outbox_queue.enqueue(
        session=session,
        mail=mail,
        dedupe_key=dedupe_key,
        kind=draft.kind,
        ticket_id=ticket.id,
        now=now,
        caused_by_message_id=caused_by_message_id,
        not_before=not_before,
    )
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor="system",
        kind=EventKind.MAIL_QUEUED,
        reason=f"{draft.kind} to {draft.to_address}",
        now=now,
    )
    return True
