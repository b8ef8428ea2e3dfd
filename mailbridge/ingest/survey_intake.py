"""Intake's branch for survey answers: a mail to a rating address or a reply to a survey that starts
with a score. Runs inside intake's transaction, after intake stored the row.

A valid answer records the ticket's rating and queues a thank-you; a forged or expired one is only
logged. Either way the ticket keeps its status and no receipt goes out.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.kinds import EventKind, MatchReason, MessageKind
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.service.survey_mail import queue_thanks
from mailbridge.store import tickets
from mailbridge.store.models import Message, Ticket
from mailbridge.store.ratings import LINK, SurveyAnswer, record_rating

log = logging.getLogger(__name__)


def stored_kind(answer: SurveyAnswer) -> str:
    """The Message.kind an answer is stored under."""
    return MessageKind.SURVEY_ANSWER if answer.counts else MessageKind.SURVEY_REJECTED


def match_reason(answer: SurveyAnswer) -> str:
    """The Message.match_reason of an answer: how it found its ticket."""
    return MatchReason.RATING_TOKEN if answer.source == LINK else MatchReason.SURVEY_REPLY


def handle(
    ctx: MailContext,
    *,
    session: Session,
    row: Message,
    parsed: ParsedMessage,
    answer: SurveyAnswer,
    now: datetime,
    silent: bool = False,
) -> Ticket | None:
    """Record a valid answer's rating with its event and thank-you; log a rejected one. Return its ticket.

    `silent` (an import): the rating and its event are recorded, no thank-you is queued.
    """
    ticket = session.get(Ticket, answer.ticket_id) if answer.ticket_id else None
    if not answer.counts or ticket is None:
        log.warning(
            "survey answer ignored verdict=%s mailbox=%s uid=%s message_id=%s ticket=%s",
            answer.verdict,
            row.mailbox,
            row.uid,
            parsed.message_id,
            ticket.number if ticket else None,
        )
        if ticket is not None:
            tickets.record_event(
                session=session,
                ticket=ticket,
                actor=f"customer:{parsed.from_addr}",
                kind=EventKind.RATING_REJECTED,
                reason=f"{answer.verdict} rating {answer.score}/5",
                now=now,
            )
        return ticket
    recorded = record_rating(session=session, ticket=ticket, message=row, answer=answer, now=now)
    reason = f"rated {answer.score}/5 by {answer.source}"
    if recorded.replaced is not None:
        reason += f", replacing {recorded.replaced.score}/5"
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor=f"customer:{parsed.from_addr}",
        kind=EventKind.RATED,
        reason=reason,
        now=now,
    )
    if silent:
        log.info("rating imported silently, no thanks message_id=%s ticket=%s", parsed.message_id, ticket.number)
        return ticket
    queue_thanks(
        ctx,
        session=session,
        ticket=ticket,
        row=row,
        score=answer.score,
        is_replacement=recorded.replaced is not None,
        now=now,
    )
    log.info(
        "rating stored mailbox=%s uid=%s message_id=%s ticket=%s score=%s",
        row.mailbox,
        row.uid,
        parsed.message_id,
        ticket.number,
        answer.score,
    )
    return ticket
