"""The jobs: poll_mailboxes and deliver_outbox, run by APScheduler in the daemon or once by `run --once`.

Each job reads the clock once and passes `now` down. A failing mailbox is logged and never stops
the others; a failing outbox item is recorded and never stops the rest.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbridge.base.config.settings import MailboxSettings
from mailbridge.base.errors import MailbridgeError, SourceError
from mailbridge.ingest.poll import PollResult, poll_mailbox, record_poll_error
from mailbridge.outbox.delivery import deliver_due
from mailbridge.runtime import timers
from mailbridge.runtime.app import App
from mailbridge.store import mailbox_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleReport:
    polls: tuple[PollResult, ...]
    errors: tuple[str, ...]
    sent: int
    failed: int


@dataclass(frozen=True)
class MailboxOutcome:
    result: PollResult | None
    error: str | None
    retry_after: timedelta | None  # set after a failure: the backoff before the next attempt


async def poll_one(app: App, mailbox: MailboxSettings, now: datetime) -> MailboxOutcome:
    """Poll one mailbox and record its health; a SourceError is logged, counted and returned, never raised."""
    try:
        result = await asyncio.to_thread(poll_mailbox, app.poller, app.inbox(mailbox), mailbox, now)
    except SourceError as exc:
        log.error("poll failed mailbox=%s error=%s", mailbox.name, exc)
        record_poll_error(app.engine, mailbox, str(exc))
        delay = mailbox_state.record_failure(app.engine, app.mail, mailbox, str(exc), now, random.random())
        return MailboxOutcome(None, str(exc), delay)
    mailbox_state.record_success(app.engine, mailbox, now)
    return MailboxOutcome(result, None, None)


async def poll_one_job(app: App, mailbox: MailboxSettings) -> MailboxOutcome:
    """The daemon's per-mailbox job: poll_one at its own `now`; an unexpected error is logged, not raised."""
    try:
        return await poll_one(app, mailbox, app.clock.now())
    except Exception as exc:  # noqa: BLE001 - one of the four boundaries: per job
        log.exception("job crashed job=poll mailbox=%s", mailbox.name)
        return MailboxOutcome(None, f"{type(exc).__name__}: {exc}", None)


async def poll_mailboxes(app: App) -> tuple[list[PollResult], list[str]]:
    """Poll every configured mailbox once; return results and one error line per failed mailbox."""
    now = app.clock.now()
    results, errors = [], []
    for mailbox in app.settings.mailboxes:
        outcome = await poll_one(app, mailbox, now)
        results.extend([outcome.result] if outcome.result else [])
        errors.extend([outcome.error] if outcome.error else [])
    return results, errors


async def deliver_outbox(app: App) -> tuple[int, int]:
    """Send what is due now; return (sent, failed) counts of this round."""
    return await deliver_due(
        engine=app.engine,
        sender=app.sender,
        signer=app.signer,
        clock=app.clock,
        retry_for=timedelta(hours=app.settings.schedule.retry_for_hours),
    )


async def deliver_until_idle(app: App) -> tuple[int, int]:
    """Send until nothing is due now; failures wait for their retry time."""
    sent = failed = 0
    while True:
        round_sent, round_failed = await deliver_outbox(app)
        sent, failed = sent + round_sent, failed + round_failed
        if round_sent + round_failed == 0:
            return sent, failed


async def close_idle_tickets(app: App) -> int:
    """Close tickets that waited on the customer too long; return how many."""
    return await asyncio.to_thread(timers.close_idle, app, app.clock.now())


async def check_sla(app: App) -> int:
    """Report tickets about to breach or past their first-response time; return how many."""
    return await asyncio.to_thread(timers.check_sla, app, app.clock.now())


async def run_cycle(app: App) -> CycleReport:
    """One full cycle: poll every mailbox, run the ticket timers, then send everything due."""
    polls, errors = await poll_mailboxes(app)
    await close_idle_tickets(app)
    await check_sla(app)
    sent, failed = await deliver_until_idle(app)
    return CycleReport(tuple(polls), tuple(errors), sent, failed)


async def safe_job(app: App, job, name: str) -> None:
    """Run one scheduled job; an unexpected error is logged and the schedule goes on."""
    try:
        await job(app)
    except MailbridgeError as exc:
        log.error("job failed job=%s error=%s", name, exc)
    except Exception:  # noqa: BLE001 - one of the four boundaries: per job
        log.exception("job crashed job=%s", name)
