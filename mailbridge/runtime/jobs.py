"""The jobs: poll_mailboxes and deliver_outbox, run by the daemon's loops and timers or once by `run --once`.

Each job reads the clock once and passes `now` down. A failing mailbox is logged and never stops
the others; a failing outbox item is recorded and never stops the rest. Any failure of a poll (a
SourceError, a database error, a bug) is recorded on the mailbox's health with its backoff and admin
alert; when the database refuses that record too, it is logged and the backoff holds all the same.
The daemon's delivery and timer jobs run through `run_job`, which records each failure on the job's health
(store/job_health.py) with a backoff, for `mailbridge status`, and the admin alert after
`[schedule] job_alert_after_minutes`; the next success ends the episode. A crashed loop is recorded the same way
on its own row, whose episode `record_loop_round` ends when a round of the loop has finished.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from mailbridge.base.config.settings import MailboxSettings
from mailbridge.base.errors import LeaseLost, MailbridgeError, SourceError
from mailbridge.decisions.mailbox_health import retry_delay
from mailbridge.decisions.retention import ErasureCounts
from mailbridge.ingest.guard import StopSignal
from mailbridge.ingest.poll import PollResult, poll_mailbox, record_poll_error
from mailbridge.outbox.delivery import deliver_due
from mailbridge.runtime import retention, timers
from mailbridge.runtime.app import App
from mailbridge.runtime.fleet import OnceFleet
from mailbridge.runtime.metrics import PollTally, write_metrics_file
from mailbridge.runtime.outcomes import CycleReport, Skipped
from mailbridge.runtime.shop_lookup import ShopRound, run_shop_lookups, send_waiting_notifications
from mailbridge.service import answer_window, failed_mail
from mailbridge.store import db, job_health, mailbox_state, outbox_queue

log = logging.getLogger(__name__)
AUTOFLUSH_NOTE = "(raised as a result of Query-invoked autoflush"


@dataclass(frozen=True)
class MailboxOutcome:
    result: PollResult | None
    error: str | None
    retry_after: timedelta | None  # set after a failure: the backoff before the next attempt
    lease_lost: bool = False  # another daemon holds the mailbox now: nothing was committed or marked, stop polling


async def poll_one(app: App, mailbox: MailboxSettings, now: datetime, stop: StopSignal | None = None) -> MailboxOutcome:
    """Poll one mailbox and record its health; any failure is logged once, recorded and returned, never raised.

    `stop`: the poll ends at the next message once it is set (default: the app's stop request).
    """
    try:
        result = await asyncio.to_thread(_poll_and_record, app, mailbox, now, stop)
    except LeaseLost as exc:
        # Not a failure of the mailbox: its new holder polls it (and records its health) from now on.
        log.warning("poll stopped mailbox=%s: %s", mailbox.name, exc)
        return MailboxOutcome(None, None, None, lease_lost=True)
    except SourceError as exc:
        log.error("poll failed mailbox=%s error=%s", mailbox.name, exc)
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - one of the four boundaries: per job (a database error, a bug)
        log.exception("poll failed mailbox=%s", mailbox.name)
        error = describe(exc)
    else:
        return MailboxOutcome(result, None, None)
    delay = await asyncio.to_thread(_record_failure, app, mailbox, error, now)
    return MailboxOutcome(None, error, delay)


def _poll_and_record(app: App, mailbox: MailboxSettings, now: datetime, stop: StopSignal | None) -> PollResult:
    poller = app.poller if stop is None else replace(app.poller, stop=stop)
    result = poll_mailbox(poller, app.inbox(mailbox), mailbox, now)
    mailbox_state.record_success(app.engine, mailbox, now)
    return result


def _record_failure(app: App, mailbox: MailboxSettings, error: str, now: datetime) -> timedelta:
    """Record a failed poll (backoff, admin alert); when that fails too (database down), log it and back off anyway."""
    jitter = random.random()
    try:
        record_poll_error(app.engine, mailbox, error)
        return mailbox_state.record_failure(app.engine, app.mail, mailbox, error, now, jitter)
    except Exception as exc:  # noqa: BLE001 - the database may be what failed; the loop backs off all the same
        log.error("cannot record the failed poll mailbox=%s error=%s", mailbox.name, describe(exc))
        return retry_delay(1, jitter)


def describe(exc: BaseException) -> str:
    """One line for a log or a health row: the exception's type and the first line of its text."""
    # SQLAlchemy puts a note before the database's error when a query's autoflush failed: the error is the line.
    lines = [line for line in str(exc).strip().splitlines() if not line.startswith(AUTOFLUSH_NOTE)]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


async def poll_one_job(app: App, mailbox: MailboxSettings, stop: StopSignal | None = None) -> MailboxOutcome:
    """The daemon's per-mailbox job: poll_one at its own `now`; an unexpected error is logged, not raised."""
    try:
        return await poll_one(app, mailbox, app.clock.now(), stop)
    except Exception as exc:  # noqa: BLE001 - one of the four boundaries: per job
        log.exception("job crashed job=poll mailbox=%s", mailbox.name)
        return MailboxOutcome(None, describe(exc), retry_delay(1, random.random()))


async def poll_mailboxes(app: App) -> tuple[list[PollResult], list[str]]:
    """Poll every configured mailbox once; return results and one error line per failed mailbox."""
    results, errors, _lost = await _poll_each(app, app.settings.mailboxes)
    return results, errors


async def _poll_each(app: App, mailboxes: Iterable[MailboxSettings]) -> tuple[list[PollResult], list[str], list[str]]:
    """Poll these mailboxes once; return results, one error line per failed mailbox, and the mailboxes whose lease
    another process took during the poll (`run --once` beside daemons: nothing of theirs was committed after that)."""
    now = app.clock.now()
    results, errors, lost = [], [], []
    for mailbox in mailboxes:
        outcome = await poll_one(app, mailbox, now)
        results.extend([outcome.result] if outcome.result else [])
        errors.extend([outcome.error] if outcome.error else [])
        lost.extend([mailbox.name] if outcome.lease_lost else [])
    return results, errors, lost


async def deliver_outbox(app: App) -> tuple[int, int]:
    """Send until nothing is due now, over up to `[smtp] max_connections` connections; return (sent, failed).

    Failures wait for their retry time; a stop request ends the pass once each connection's batch is recorded.
    """
    return await deliver_due(
        engine=app.engine,
        sender=app.sender,
        clock=app.clock,
        retry_for=timedelta(hours=app.settings.schedule.retry_for_hours),
        on_held=lambda session, row, now: failed_mail.tell_author(app.mail, session=session, row=row, now=now),
        connections=app.settings.smtp.max_connections,
        stop=app.stop_requested,
        on_claimed=lambda session, ids, now: answer_window.release_claimed(
            app.mail, session=session, outbox_ids=ids, now=now
        ),
        profile_senders=app.profile_senders,
        claimer=app.claimer,
    )


def take_back_claims(app: App) -> int:
    """At the start of the only sender of a SQLite file: mail a killed run left `sending` goes out at once."""
    with db.transaction(app.engine) as session:
        taken = outbox_queue.expire_claims(session=session, now=app.clock.now())
    if taken:
        log.info("mails left sending by a run that ended without finishing are due again count=%d", taken)
    return taken


# One pass of deliver_outbox already runs until nothing is due; `run --once` and the tests call it by this name.
deliver_until_idle = deliver_outbox


async def close_idle_tickets(app: App) -> int:
    """Close tickets that waited on the customer too long; return how many."""
    return await asyncio.to_thread(timers.close_idle, app, app.clock.now())


async def check_sla(app: App) -> int:
    """Report tickets about to breach or past their first-response time; return how many."""
    return await asyncio.to_thread(timers.check_sla, app, app.clock.now())


async def look_up_shop(app: App) -> ShopRound:
    """Look customers up in the `[shop]` and send the notifications that waited for it (runtime/shop_lookup.py)."""
    return await asyncio.to_thread(run_shop_lookups, app, app.clock.now())


async def apply_retention(app: App) -> ErasureCounts:
    """Purge raw mail of and anonymise finished tickets past `[retention]`'s days (runtime/retention.py)."""
    return await asyncio.to_thread(retention.apply_retention, app, app.clock.now())


async def run_cycle(app: App, fleet: OnceFleet | None = None) -> CycleReport:
    """One full cycle: poll every mailbox, run the ticket timers, send everything due, then write the metrics.

    With `fleet` (`run --once` beside daemons on PostgreSQL, see `run_once`): poll only the mailboxes whose lease it
    holds (the others are reported skipped), and run each timer only when it claims the timer's due time.
    """
    mailboxes = [m for m in app.settings.mailboxes if fleet is None or m.name in fleet.held]
    polls, errors, lost = await _poll_each(app, mailboxes)
    # Before delivery: the notifications that waited for a lookup go out in this cycle (with no [shop] any more, those
    # parked while it was configured).
    if app.settings.shop is not None:
        await run_job(app, look_up_shop, "shop_lookup")
    else:
        await asyncio.to_thread(send_waiting_notifications, app, app.clock.now())
    for name, timer in (
        ("close_idle_tickets", close_idle_tickets),
        ("check_sla", check_sla),
        ("apply_retention", apply_retention),
    ):
        if fleet is None:
            await timer(app)
        elif await asyncio.to_thread(fleet.claim_now, name):
            try:
                await timer(app)
            finally:
                await asyncio.to_thread(fleet.hand_back, name)
    sent, failed = await deliver_until_idle(app)
    if app.settings.metrics.textfile is not None:
        tally = PollTally()
        done = {poll.mailbox: poll for poll in polls}
        for mailbox in mailboxes:
            if mailbox.name not in lost:
                tally.record(mailbox.name, done.get(mailbox.name))
        await write_metrics(app, app.settings.metrics.textfile, tally)
    skipped = tuple(Skipped(name, "lease taken over by a daemon during the poll") for name in lost)
    return CycleReport(tuple(polls), tuple(errors), sent, failed, skipped)


async def run_once(app: App) -> CycleReport:
    """`run --once`: one full cycle that takes part in the fleet. Any `mailbridge run` first removes the rows of
    daemons silent for FORGET_AFTER_LEASES leases. On PostgreSQL it polls only the mailboxes no live daemon holds,
    under leases of its own, released at the end (`runtime.fleet.OnceFleet`); on SQLite the caller holds the file's
    lock (runtime/run_lock.py), so no daemon runs beside it and it polls every mailbox."""
    names = [m.name for m in app.settings.mailboxes]
    fleet = OnceFleet(app.engine, names, app.settings.daemon.lease_seconds)
    await asyncio.to_thread(fleet.forget_dead)
    if app.engine.dialect.name == "sqlite":
        return await run_cycle(app)
    skipped = await asyncio.to_thread(fleet.take_free)
    for gone in skipped:
        log.info("mailbox %s skipped: %s", gone.mailbox, gone.reason)
    app.fence_for = fleet.fence
    try:
        report = await run_cycle(app, fleet)
    finally:
        app.fence_for = None
        await asyncio.to_thread(fleet.release_all)
    return replace(report, skipped=(*skipped, *report.skipped))


async def write_metrics(app: App, path: Path, tally: PollTally) -> None:
    """Write the metrics file; a failure (full disk, database down) is logged and never ends a loop or a cycle."""
    try:
        await asyncio.to_thread(write_metrics_file, app, path, app.clock.now(), tally.snapshot())
    except Exception as exc:  # noqa: BLE001 - like the health file: metrics must not stop mail
        log.error("cannot write the metrics file path=%s error=%s", path, describe(exc))


@dataclass(frozen=True)
class JobOutcome:
    error: str | None
    retry_after: timedelta | None  # set after a failure: the backoff before the next run


async def run_job(app: App, job: Callable[[App], Awaitable[object]], name: str) -> JobOutcome:
    """Run one job of the delivery loop or the timers and record its health; a failure is logged once, recorded
    on the job's health with its backoff and returned, never raised."""
    try:
        await job(app)
    except MailbridgeError as exc:
        log.error("job failed job=%s error=%s", name, exc)
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - one of the four boundaries: per job
        log.exception("job crashed job=%s", name)
        error = describe(exc)
    else:
        await asyncio.to_thread(_record_job_success, app, name, app.clock.now())
        return JobOutcome(None, None)
    return JobOutcome(error, await record_job_failure(app, name, error))


def _record_job_success(app: App, name: str, now: datetime) -> None:
    try:
        job_health.record_success(app.engine, name, now)
    except Exception as exc:  # noqa: BLE001 - the job did its work; a database that refuses the note is logged
        log.error("cannot record the job's success job=%s error=%s", name, describe(exc))


async def record_job_failure(app: App, name: str, error: str, alert_after_minutes: float | None = None) -> timedelta:
    """Record a failed job or a crashed loop on its health, with the admin alert after `alert_after_minutes`
    (default `[schedule] job_alert_after_minutes`); when that fails too, log it and back off anyway."""
    minutes = alert_after_minutes or app.settings.schedule.job_alert_after_minutes
    return await asyncio.to_thread(_record_job_failure, app, name, error, app.clock.now(), timedelta(minutes=minutes))


def _record_job_failure(app: App, name: str, error: str, now: datetime, alert_after: timedelta) -> timedelta:
    jitter = random.random()
    try:
        return job_health.record_failure(app.engine, app.mail, name, error, now, jitter, alert_after)
    except Exception as exc:  # noqa: BLE001 - the database may be what failed; the loop backs off all the same
        log.error("cannot record the failed job job=%s error=%s", name, describe(exc))
        return retry_delay(1, jitter)


async def record_loop_round(app: App, name: str) -> bool:
    """A supervised loop finished a round: end its failure episode, if any; False when the database refused."""
    try:
        await asyncio.to_thread(job_health.end_episode, app.engine, name, app.clock.now())
    except Exception as exc:  # noqa: BLE001 - a database that refuses the note is logged; the next round retries
        log.error("cannot record the loop's round job=%s error=%s", name, describe(exc))
        return False
    return True
