"""I/O: the JobHealth row of each daemon job or loop (deliver_outbox, close_idle_tickets, check_sla, timers).

Written by `runtime.jobs` after each run of a job and by the daemon's supervisor when a loop crashed; read by
`reports.status`. A failure extends the episode and sets the retry time; a success ends the episode.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailbridge.base.clock import utc
from mailbridge.decisions.mailbox_health import retry_delay
from mailbridge.store import db
from mailbridge.store.models import JobHealth

# A job that keeps succeeding writes its last success at most this often (the delivery loop runs many times a minute).
SUCCESS_EVERY = timedelta(minutes=1)


def _health(session: Session, job: str) -> JobHealth:
    row = session.exec(select(JobHealth).where(JobHealth.job == job)).first()
    if row is None:
        row = JobHealth(job=job)
        session.add(row)
    return row


def record_success(engine: Engine, job: str, now: datetime) -> None:
    """End the job's failure episode, if any; note the success (at most once a SUCCESS_EVERY while it is ok)."""
    with db.transaction(engine) as session:
        row = _health(session, job)
        last = utc(row.last_success_at)
        if row.failing_since is None and last is not None and now - last < SUCCESS_EVERY:
            return
        row.last_success_at, row.failing_since, row.consecutive_failures, row.retry_at = now, None, 0, None


def record_failure(engine: Engine, job: str, error: str, now: datetime, jitter: float) -> timedelta:
    """Count a failed run of the job; return the delay before it runs again."""
    with db.transaction(engine) as session:
        row = _health(session, job)
        row.consecutive_failures = (row.consecutive_failures or 0) + 1
        row.last_error, row.last_error_at = error[:500], now
        row.failing_since = utc(row.failing_since) or now
        delay = retry_delay(row.consecutive_failures, jitter)
        row.retry_at = now + delay
        return delay
