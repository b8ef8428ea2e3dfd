"""I/O: the MailboxHealth row of each mailbox, written by `runtime.jobs` after every poll attempt.

A failure extends the episode and sets the next retry time; when the episode has lasted
`alert_after_minutes`, the admin alert is enqueued in the same transaction (dedupe key per episode).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailbridge.base.clock import utc
from mailbridge.base.config.settings import MailboxSettings
from mailbridge.decisions.mailbox_health import Failing, plan_alert, retry_delay
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.store import db
from mailbridge.store.admin_alert import enqueue_alert
from mailbridge.store.models import MailboxHealth


def _health(session: Session, mailbox: str) -> MailboxHealth:
    row = session.exec(select(MailboxHealth).where(MailboxHealth.mailbox == mailbox)).first()
    if row is None:
        row = MailboxHealth(mailbox=mailbox)
        session.add(row)
    return row


def record_success(engine: Engine, mailbox: MailboxSettings, now: datetime) -> None:
    """End any failure episode of the mailbox."""
    with db.transaction(engine) as session:
        row = _health(session, mailbox.name)
        row.last_success_at, row.failing_since, row.consecutive_failures = now, None, 0
        row.retry_at = row.alerted_at = None


def record_failure(
    engine: Engine, ctx: MailContext, mailbox: MailboxSettings, error: str, now: datetime, jitter: float
) -> timedelta:
    """Count a failed poll, alert the admin when the outage is long enough; return the delay before the retry."""
    with db.transaction(engine) as session:
        row = _health(session, mailbox.name)
        row.consecutive_failures += 1
        row.last_error, row.last_error_at = error[:500], now
        row.failing_since = utc(row.failing_since) or now
        delay = retry_delay(row.consecutive_failures, jitter)
        row.retry_at = now + delay
        alert = plan_alert(
            about=Failing.MAILBOX,
            name=mailbox.name,
            last_success_at=utc(row.last_success_at),
            failing_since=row.failing_since,
            alerted_at=utc(row.alerted_at),
            last_error=row.last_error,
            alert_after=timedelta(minutes=mailbox.alert_after_minutes),
            now=now,
        )
        if alert is not None:
            enqueue_alert(ctx, session, alert, now)
            row.alerted_at = now
        return delay
