"""Store side of survey answers, inside intake's session: recognise an answer, record its rating. Never commits.

`find_survey_answer` queries what a message needs (its rating address, or the survey it replies to)
and lets `survey` decide; `record_rating` writes the rating, marking an earlier one replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from mailbridge.base.clock import utc
from mailbridge.decisions.inbound.parse import ParsedMessage, recipients_of
from mailbridge.decisions.inbound.reply_text import new_text
from mailbridge.decisions.kinds import MailKind
from mailbridge.decisions.survey import (
    COMMENT_CHARS,
    TokenVerdict,
    check_rate_token,
    find_rate_address,
    is_within_window,
    read_rating_reply,
)
from mailbridge.store import db
from mailbridge.store.models import Message, OutboxMail, Rating, Ticket

LINK = "link"
REPLY = "reply"


@dataclass(frozen=True)
class SurveyAnswer:
    ticket_id: int | None  # None when a forged token names no ticket of ours
    score: int
    comment: str
    source: str  # LINK or REPLY
    verdict: TokenVerdict

    @property
    def counts(self) -> bool:
        return self.verdict is TokenVerdict.VALID and self.ticket_id is not None


@dataclass(frozen=True)
class RecordedRating:
    rating: Rating
    replaced: Rating | None


def find_survey_answer(
    *,
    session: Session,
    parsed: ParsedMessage,
    secret: str | None,
    window_days: int,
    now: datetime,
    previous_secrets: tuple[str, ...] = (),
) -> SurveyAnswer | None:
    """Recognise a rating: a mail to a rating address, or a reply to a survey starting with a score. None: neither.

    A rating address signed with one of `previous_secrets` (retired by `secret rotate`) counts as signed.
    """
    rate = find_rate_address(recipients_of(parsed))
    if rate is not None:
        check = check_rate_token(rate.token, secret, now.date(), window_days, previous_secrets) if secret else None
        verdict = check.verdict if check else TokenVerdict.FORGED
        ticket_id = check.claims.ticket_id if check and check.claims else None
        if ticket_id is not None and session.get(Ticket, ticket_id) is None:
            ticket_id, verdict = None, TokenVerdict.FORGED
        return SurveyAnswer(ticket_id, rate.score, new_text(parsed)[:COMMENT_CHARS], LINK, verdict)
    survey = _answered_survey(session, parsed)
    reply = read_rating_reply(new_text(parsed)) if survey is not None else None
    if reply is None:
        return None
    is_open = is_within_window(utc(survey.created_at), now, window_days)
    return SurveyAnswer(
        survey.ticket_id, reply.score, reply.comment, REPLY, TokenVerdict.VALID if is_open else TokenVerdict.EXPIRED
    )


# Core, built once: outbox rows are written directly by outbox.enqueue, so they are in the database already.
_outbox = db.table_of(OutboxMail)
_SURVEY_BY_MESSAGE_ID = (
    select(_outbox.c.ticket_id, _outbox.c.created_at)
    .where(
        _outbox.c.message_id.in_(bindparam("ids", expanding=True)),
        _outbox.c.kind == MailKind.SURVEY.value,
        _outbox.c.ticket_id.is_not(None),
    )
    .limit(1)
)


def _answered_survey(session: Session, parsed: ParsedMessage):
    """The (ticket_id, created_at) of the survey this mail answers, or None."""
    ids = [i for i in (parsed.in_reply_to, *parsed.references) if i]
    if not ids:
        return None
    return db.run(session, _SURVEY_BY_MESSAGE_ID, {"ids": ids}).first()


def record_rating(
    *, session: Session, ticket: Ticket, message: Message, answer: SurveyAnswer, now: datetime
) -> RecordedRating:
    """Store the ticket's rating; an earlier one stays, marked replaced."""
    earlier = session.exec(
        select(Rating).where(Rating.ticket_id == ticket.id, col(Rating.replaced_at).is_(None))
    ).first()
    if earlier is not None:
        earlier.replaced_at = now
    assert ticket.id is not None and message.id is not None, "both are stored rows"
    rating = Rating(
        ticket_id=ticket.id,
        message_id=message.id,
        score=answer.score,
        comment=answer.comment,
        source=answer.source,
        contact_id=ticket.contact_id,
        agent_id=ticket.assigned_agent_id,
        created_at=now,
    )
    session.add(rating)
    session.flush()
    return RecordedRating(rating, earlier)
