"""Read-only queries for `mailbridge status`: per mailbox health and folder positions, and the outbox backlog.

Takes a session and the settings, returns a frozen StatusReport; writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from mailbridge.base.clock import utc
from mailbridge.base.config.settings import Settings
from mailbridge.decisions.kinds import OutboxStatus
from mailbridge.store.models import MailboxHealth, MailboxState, OutboxMail

UNSENT = (OutboxStatus.QUEUED, OutboxStatus.SENDING)


@dataclass(frozen=True)
class MailboxStatus:
    name: str
    folders: dict[str, int]  # folder -> last UID stored
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    failing_since: datetime | None
    retry_at: datetime | None


@dataclass(frozen=True)
class StatusReport:
    mailboxes: tuple[MailboxStatus, ...]
    outbox_depth: int  # queued or sending
    outbox_held: int
    oldest_unsent_at: datetime | None


def gather_status(*, session: Session, settings: Settings) -> StatusReport:
    """Collect what `mailbridge status` prints."""
    mailboxes = tuple(_mailbox_status(session, m.name) for m in settings.mailboxes)
    unsent = select(func.count(), func.min(OutboxMail.created_at)).where(OutboxMail.status.in_(UNSENT))
    depth, oldest = session.exec(unsent).one()
    held = session.exec(
        select(func.count()).select_from(OutboxMail).where(OutboxMail.status == OutboxStatus.HELD)
    ).one()
    return StatusReport(mailboxes, depth, held, utc(oldest))


def _mailbox_status(session: Session, name: str) -> MailboxStatus:
    health = session.exec(select(MailboxHealth).where(MailboxHealth.mailbox == name)).first()
    states = session.exec(select(MailboxState).where(MailboxState.mailbox == name).order_by(MailboxState.folder))
    folders = {s.folder: s.last_uid for s in states}
    if health is None:
        return MailboxStatus(name, folders, None, "", None, None, None)
    return MailboxStatus(
        name,
        folders,
        utc(health.last_success_at),
        health.last_error,
        utc(health.last_error_at),
        utc(health.failing_since),
        utc(health.retry_at),
    )
