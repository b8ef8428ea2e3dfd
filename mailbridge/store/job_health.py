"""I/O: the JobHealth row of each daemon job (deliver_outbox, close_idle_tickets, check_sla) and supervised loop
(loop:poll:NAME, loop:deliver_outbox, loop:timers).

Written by `runtime.jobs` after each run of a job and by the daemon's supervisor when a loop crashed or finished a
round after a crash; read by `reports.status`. A failure extends the episode, sets the retry time and, once the
episode has lasted its `alert_after`, queues the admin alert in the same transaction (store/admin_alert.py; the
outbox's dedupe key, one per job and episode, is what records that it was sent). A success ends the episode.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailbridge.base.clock import utc
from mailbridge.decisions.mailbox_health import Failing, plan_alert, retry_delay
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.store import db, outbox_queue
from mailbridge.store.admin_alert import enqueue_alert
from mailbridge.store.models import JobHealth

# A job that keeps succeeding writes its last success at most this often (the delivery loop runs many times a minute).
SUCCESS_EVERY = timedelta(minutes=1)


def _health(session: Session, job: str) -> JobHealth:
    row = session.exec(select(JobHealth).where(JobHealth.job == job)).first()
    if row is None:
        # Several daemons on one database may add a job's row at once: the INSERT that loses writes nothing, and
        # the row the other one added is read instead.
        db.insert_unless_taken(session, JobHealth(job=job), "job")
        row = session.exec(select(JobHealth).where(JobHealth.job == job)).one()
    return row


def record_success(engine: Engine, job: str, now: datetime) -> None:
    """End the job's failure episode, if any; note the success (at most once a SUCCESS_EVERY while it is ok)."""
    with db.transaction(engine) as session:
        row = _health(session, job)
        last = utc(row.last_success_at)
        if row.failing_since is None and last is not None and now - last < SUCCESS_EVERY:
            return
        row.last_success_at, row.failing_since, row.consecutive_failures, row.retry_at = now, None, 0, None


def end_episode(engine: Engine, job: str, now: datetime) -> None:
    """End the failure episode of a job or loop that has a row and is failing; write nothing otherwise."""
    with db.transaction(engine) as session:
        row = session.exec(select(JobHealth).where(JobHealth.job == job)).first()
        if row is not None and row.failing_since is not None:
            row.last_success_at, row.failing_since, row.consecutive_failures, row.retry_at = now, None, 0, None


def record_failure(
    engine: Engine, ctx: MailContext, job: str, error: str, now: datetime, jitter: float, alert_after: timedelta
) -> timedelta:
    """Count a failed run of the job, alert the admin once it has failed for `alert_after`; return the delay before
    it runs again."""
    with db.transaction(engine) as session:
        row = _health(session, job)
        row.consecutive_failures = (row.consecutive_failures or 0) + 1
        row.last_error, row.last_error_at = error[:500], now
        row.failing_since = utc(row.failing_since) or now
        delay = retry_delay(row.consecutive_failures, jitter)
        row.retry_at = now + delay
        alert = plan_alert(
            about=Failing.JOB,
            name=job,
            last_success_at=utc(row.last_success_at),
            failing_since=row.failing_since,
            alerted_at=None,  # JobHealth keeps no alert time: the queued mail's dedupe key is the record
            last_error=row.last_error,
            alert_after=alert_after,
            now=now,
        )
        if alert is not None and not outbox_queue.is_queued(session=session, dedupe_key=alert.dedupe_key):
            enqueue_alert(ctx, session, alert, now)
        return delay
