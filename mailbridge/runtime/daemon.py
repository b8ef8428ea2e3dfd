"""`mailbridge run`: build the app, poll each mailbox in its own loop (woken by IDLE), send the outbox in a
loop of its own, run the ticket timers, and stop cleanly on SIGTERM/SIGINT (the message in hand is finished first).
SIGHUP re-reads mailbridge.toml and restarts the loops with it; a bad file is logged and ignored.

Every loop (each mailbox's poll loop and IDLE watchers, the delivery loop, the timers) runs under `_supervise`:
a loop that raises, or ends without a stop, is logged once with its name and mailbox, recorded on the loop's own
JobHealth (`loop:poll:NAME`, `loop:deliver_outbox`, `loop:timers`), backed off (decisions/loop_restart.py) and
started again. The loop's failure episode ends only when a round of it has finished (a poll loop: polled, counted,
wrote the health file, about to wait), so a loop that crashes every time right after a successful poll stays
failing and gets its one admin alert after the mailbox's `alert_after_minutes` (other loops:
`[schedule] job_alert_after_minutes`), like a failing job or mailbox.

Each mailbox loop polls, then waits `poll_interval_seconds` or until its IDLE watcher reports new
mail. After a failure the loop waits out the backoff (kept in memory here, and shown in
MailboxHealth for `mailbridge status`), and wakes are ignored until then. A failed poll is recorded by the job,
and a health file that cannot be written is logged. An IDLE watcher thread that dies hands its exception back
through its `outcome`: the mailbox is polled at once and, after the backoff, a new watcher started.

The delivery loop sends until nothing is due (`deliver_outbox`, over `[smtp] max_connections`
connections), then waits `outbox_interval_seconds` or until a poll has stored mail. A failed pass or timer run is
recorded on its JobHealth and waits out its backoff (for delivery, a poll that stores mail ends the wait).

After each poll the health file and the `[metrics] textfile` are rewritten. Under systemd (`Type=notify`,
$NOTIFY_SOCKET set) READY=1 is sent once the loops run, and WATCHDOG=1 every half WatchdogSec while every
mailbox loop has shown life (a poll started, a batch stored, a poll ended, a wait going on) within WatchdogSec
and no supervisor has ended.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

from mailbridge.base.config.settings import MailboxSettings, Settings, load_settings
from mailbridge.base.errors import ConfigError
from mailbridge.decisions.leases import next_round_seconds
from mailbridge.decisions.loop_restart import plan_restart
from mailbridge.ingest.sources.idle import IdleWatcher
from mailbridge.runtime.app import App, build_app, check_contacts_of
from mailbridge.runtime.audit_job import AUDIT_TIMER, audit_mailboxes, next_nightly_audit
from mailbridge.runtime.fleet import Fleet, MailboxStop
from mailbridge.runtime.health import write_health_file
from mailbridge.runtime.jobs import (
    apply_retention,
    check_sla,
    close_idle_tickets,
    deliver_outbox,
    describe,
    look_up_shop,
    poll_one_job,
    record_job_failure,
    record_loop_round,
    run_job,
    take_back_claims,
    write_metrics,
)
from mailbridge.runtime.memory import limit_arenas, trim
from mailbridge.runtime.metrics import PollTally
from mailbridge.runtime.run_lock import run_lock
from mailbridge.runtime.shop_lookup import send_waiting_notifications
from mailbridge.runtime.systemd import Notifier, PollHeartbeat, Watchdog, watchdog_seconds
from mailbridge.store.reader import sqlite_path

log = logging.getLogger(__name__)
T = TypeVar("T")
TIMER_INTERVAL_SECONDS = 60  # the ticket timers work in days and hours; once a minute is more than precise enough
TIMERS = ((close_idle_tickets, "close_idle_tickets"), (check_sla, "check_sla"), (apply_retention, "apply_retention"))
# A timer with a rhythm of its own (else every timer_interval_seconds): retention works in days, once a day will do.
TIMER_INTERVALS = {"apply_retention": timedelta(days=1)}


@dataclass(frozen=True)
class LoopName:
    """Which loop: poll, idle, deliver_outbox or timers, and for a mailbox's loops the mailbox (and folder)."""

    kind: str
    mailbox: str | None = None
    folder: str | None = None

    def __str__(self) -> str:
        where = (f" mailbox={self.mailbox}" if self.mailbox else "") + (f" folder={self.folder}" if self.folder else "")
        return f"loop={self.kind}{where}"

    @property
    def health_name(self) -> str:
        """The loop's JobHealth row: `loop:poll:NAME` (one for all of a mailbox's folders), `loop:deliver_outbox` ..."""
        return f"loop:{self.kind}" + (f":{self.mailbox}" if self.mailbox else "")


@dataclass
class MailboxRun:
    """The loops of one mailbox this daemon holds the lease of: they run until `ended` (or the daemon's stop)."""

    give_up: MailboxStop  # set with `ended`: a poll in hand (a long import) ends at the next message, not its last
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)
    closing: asyncio.Task | None = None  # the lease round that saw it end or lost its lease waits for its loops


# A supervised loop: its name, the loop itself, how a crash is recorded (returns the backoff), whose watchdog beats.
Supervised = tuple[LoopName, Callable[[], Awaitable[None]], Callable[[str], Awaitable[timedelta]] | None, str | None]


class Daemon:
    """The running daemon; `run()` until `stop()` (callable from any thread)."""

    def __init__(
        self,
        app: App,
        health_file: Path | None = None,
        *,
        tally: PollTally | None = None,
        notifier: Notifier | None = None,
        watchdog_timeout: float | None = None,
        timer_interval_seconds: float = TIMER_INTERVAL_SECONDS,
        fleet: Fleet | None = None,
    ):
        self.app = app
        names = [m.name for m in app.settings.mailboxes]
        self.fleet = fleet or Fleet(app.engine, names, app.settings.daemon.lease_seconds)
        self._mailbox_runs: dict[str, MailboxRun] = {}  # the mailboxes whose lease this daemon holds, and their loops
        self._leases_settled = False  # the last lease round's `settled`: the next one comes after a beat, else soon
        self._fleet_thread = ThreadPoolExecutor(1, thread_name_prefix="fleet")
        self.health_file = health_file
        self.tally = tally or PollTally()  # kept across SIGHUP restarts by serve(): the counters of this process
        self.notifier = notifier or Notifier(None)
        has_watchdog = self.notifier.is_enabled and watchdog_timeout
        self.watchdog = Watchdog(self.notifier, watchdog_timeout) if has_watchdog else None
        self.reload_settings: Settings | None = None  # set by SIGHUP: run() returns and serve() restarts
        self.timer_interval_seconds = timer_interval_seconds
        self._watchers: dict[tuple[str, str], IdleWatcher] = {}  # the current watcher of each mailbox folder
        self._supervisors: list[asyncio.Task] = []
        self._unsettled: set[str] = set()  # loops whose failure episode may be open: their next round ends it
        self.restarts: dict[str, int] = {}  # unexpected ends per loop (str(LoopName)), for tests and logs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._wakes: dict[str, asyncio.Event] = {}
        self._deliver_wake = asyncio.Event()  # set when a poll stored mail: its receipts are due now
        self._shop_wake = asyncio.Event()  # set when a poll stored mail: a notification may wait for a lookup
        self.poll_counts: dict[str, int] = {}  # polls finished per mailbox, for tests and logs
        self.polling: set[str] = set()  # mailboxes whose poll runs right now

    @property
    def held(self) -> set[str]:
        """The mailboxes this daemon polls now (it holds their leases and their loops run)."""
        return {name for name, run in self._mailbox_runs.items() if not run.ended.is_set()}

    @property
    def watchers(self) -> list[IdleWatcher]:
        """The IDLE watcher threads running now (one per mailbox folder; a new one replaces one that died)."""
        return list(self._watchers.values())

    async def run(self) -> None:
        """Run every loop under its supervisor until stopped: mailbox polls and IDLE watchers (of the mailboxes whose
        lease this daemon holds, started and stopped by the lease loop), delivery, timers, leases."""
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        limit_arenas()
        await self._fleet_call(self.fleet.join)
        if self.app.settings.shop is None:  # [shop] taken out: notifications parked while it was there go out now
            await asyncio.to_thread(send_waiting_notifications, self.app, self.app.clock.now())
        self.app.fence_for = self.fleet.fence
        self.app.claimer = self.fleet.me.instance
        mailboxes = self.app.settings.mailboxes
        self._wakes = {m.name: asyncio.Event() for m in mailboxes}
        if self.watchdog is not None:
            self.app.progress = PollHeartbeat(self.watchdog, [m.name for m in mailboxes])
        self._unsettled = {name.health_name for name, _body, record, _beat in self._loops(mailboxes) if record}
        await self._lease_round()
        self._supervisors = [
            asyncio.create_task(self._supervise(name, body, record, beat), name=str(name))
            for name, body, record, beat in self._loops(())
        ]
        for task in self._supervisors:
            task.add_done_callback(self._supervisor_ended)
        log.info("daemon started mailboxes=%d held=%d", len(mailboxes), len(self.held))
        self.notifier.send(READY=1, STATUS=f"polling {len(self.held)} mailboxes")
        pinging = asyncio.create_task(self._ping_watchdog()) if self.watchdog is not None else None
        await self._stopping.wait()
        self.notifier.send(**({"RELOADING": 1} if self.reload_settings else {"STOPPING": 1}))
        log.info("stopping: waiting for running jobs")
        for watcher in self.watchers:
            watcher.stop()
        runs = list(self._mailbox_runs.values())
        tasks = [*self._supervisors, *(t for run in runs for t in run.tasks), *(r.closing for r in runs if r.closing)]
        await asyncio.gather(*tasks, return_exceptions=True)  # each one's end was logged
        if pinging is not None:
            pinging.cancel()
        await asyncio.to_thread(lambda: [w.join(timeout=5) for w in self.watchers])
        self.app.fence_for = self.app.claimer = None
        try:
            await self._fleet_call(self.fleet.leave)
        except Exception as exc:  # noqa: BLE001 - the leases then expire after lease_seconds; the stop goes on
            log.error("cannot leave the fleet, its leases expire instead error=%s", describe(exc))
        self._fleet_thread.shutdown(wait=False)

    def _loops(self, mailboxes: tuple[MailboxSettings, ...]) -> Iterator[Supervised]:
        """The loops of these mailboxes, then the daemon's own: delivery, timers, leases."""
        for m in mailboxes:
            yield from self._mailbox_loops(m)
        yield (
            LoopName("deliver_outbox"),
            self._deliver_loop,
            partial(record_job_failure, self.app, LoopName("deliver_outbox").health_name),
            None,
        )
        if self.app.settings.shop is not None:
            yield (
                LoopName("shop_lookup"),
                self._shop_loop,
                partial(record_job_failure, self.app, LoopName("shop_lookup").health_name),
                None,
            )
        yield (
            LoopName("timers"),
            self._timer_loop,
            partial(record_job_failure, self.app, LoopName("timers").health_name),
            None,
        )
        yield (
            LoopName("leases"),
            self._lease_loop,
            partial(record_job_failure, self.app, LoopName("leases").health_name),
            None,
        )

    def _mailbox_loops(self, m: MailboxSettings) -> Iterator[Supervised]:
        yield (
            LoopName("poll", m.name),
            partial(self._poll_loop, m),
            partial(
                record_job_failure,
                self.app,
                LoopName("poll", m.name).health_name,
                alert_after_minutes=m.alert_after_minutes,
            ),
            m.name,
        )
        for folder in m.folders:
            yield LoopName("idle", m.name, folder), partial(self._idle_loop, m, folder), None, None

    async def _supervise(
        self,
        name: LoopName,
        body: Callable[[], Awaitable[None]],
        record: Callable[[str], Awaitable[timedelta]] | None,
        beat: str | None,
        ended: asyncio.Event | None = None,
    ) -> None:
        """Run `body` until stopped (or `ended`, for a mailbox's loops); when it raised or ended without a stop, log
        that once with the loop's name, record it, back off and run it again. `beat`: the watchdog's name of the
        loop, alive while it backs off."""
        in_a_row = 0
        while not self._done(ended):
            started = time.monotonic()
            try:
                await body()
            except Exception as exc:  # noqa: BLE001 - one of the four boundaries: per job (a loop is a job that runs on)
                log.exception("loop crashed %s", name)
                error = f"{name.kind} loop crashed: {describe(exc)}"
            else:
                if self._done(ended):
                    return
                log.error("loop ended without a stop %s", name)
                error = f"{name.kind} loop ended without a stop"
            restart = plan_restart(in_a_row, timedelta(seconds=time.monotonic() - started), random.random())
            in_a_row = restart.in_a_row
            self._unsettled.add(name.health_name)
            delay = max(restart.delay, await self._record_crash(name, record, error))
            self.restarts[str(name)] = self.restarts.get(str(name), 0) + 1
            await self._write_health(error)
            log.warning("restarting %s in=%.0fs in_a_row=%d", name, delay.total_seconds(), in_a_row)
            await self._pause(delay.total_seconds(), None, beat, ended)

    def _done(self, ended: asyncio.Event | None) -> bool:
        return self._stopping.is_set() or (ended is not None and ended.is_set())

    def _supervisor_ended(self, task: asyncio.Task) -> None:
        """Log a supervisor that ended before the stop (a BaseException went through it): its loop no longer runs."""
        if self._stopping is not None and self._stopping.is_set():
            return
        reason = "cancelled" if task.cancelled() else describe(task.exception() or RuntimeError("returned"))
        log.error("loop supervisor ended, the loop no longer runs %s error=%s", task.get_name(), reason)

    async def _record_crash(
        self, name: LoopName, record: Callable[[str], Awaitable[timedelta]] | None, error: str
    ) -> timedelta:
        """Record a loop's crash on its health (the recorders log a database that refuses); return their backoff."""
        if record is None:
            return timedelta(0)
        try:
            return await record(error)
        except Exception as exc:  # noqa: BLE001 - the supervisor must outlive any recorder
            log.error("cannot record the crash %s error=%s", name, describe(exc))
            return timedelta(0)

    def stop(self) -> None:
        """Ask the daemon to stop; safe from signal handlers and other threads."""
        self.app.stop_requested.set()
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    def reload(self) -> None:
        """Re-read the configuration file; when it is valid, stop so serve() restarts with it."""
        try:
            settings = load_settings(self.app.settings.path)
            check_contacts_of(self.app.engine, settings)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return
        self.reload_settings = settings
        log.info("reloading configuration path=%s", self.app.settings.path)
        self.stop()

    def _wake_callback(self, mailbox_name: str):
        event = self._wakes[mailbox_name]

        def wake() -> None:
            try:
                self._loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop has closed: the daemon is gone
                pass

        return wake

    async def _poll_loop(self, mailbox: MailboxSettings) -> None:
        wake, run = self._wakes[mailbox.name], self._mailbox_runs[mailbox.name]
        while not self._done(run.ended):
            wake.clear()
            self.polling.add(mailbox.name)
            self._beat(mailbox.name)
            try:
                outcome = await poll_one_job(self.app, mailbox, run.give_up)
            finally:
                self.polling.discard(mailbox.name)
            self._beat(mailbox.name)
            if outcome.lease_lost:  # nothing committed or marked; the next lease round decides again
                run.ended.set()
                break
            self.poll_counts[mailbox.name] = self.poll_counts.get(mailbox.name, 0) + 1
            self.tally.record(mailbox.name, outcome.result)
            if outcome.result is not None and outcome.result.stored:
                self._deliver_wake.set()  # the receipts and notices it queued go out now, not at the next interval
                self._shop_wake.set()
            await self._write_health(outcome.error)
            if self.app.settings.metrics.textfile is not None:
                await write_metrics(self.app, self.app.settings.metrics.textfile, self.tally)
            await self._round_done(LoopName("poll", mailbox.name))
            if outcome.retry_after is not None:
                await self._pause(outcome.retry_after.total_seconds(), None, mailbox.name, run.ended)
            else:
                await self._pause(self.app.settings.schedule.poll_interval_seconds, wake, mailbox.name, run.ended)
        if self.watchdog is not None:
            self.watchdog.forget(mailbox.name)

    async def _idle_loop(self, mailbox: MailboxSettings, folder: str) -> None:
        """Run one IDLE watcher thread until stopped; the exception that ended it is raised here, after the mailbox
        was woken to poll at once (until a new watcher runs, the poll loop's timer finds new mail)."""
        watcher = IdleWatcher(self.app.open_source, mailbox, folder, self._wake_callback(mailbox.name))
        self._watchers[(mailbox.name, folder)] = watcher
        watcher.start()
        ended = asyncio.wrap_future(watcher.outcome)
        run = self._mailbox_runs[mailbox.name]
        stopping = [asyncio.create_task(self._stopping.wait()), asyncio.create_task(run.ended.wait())]
        await asyncio.wait([ended, *stopping], return_when=asyncio.FIRST_COMPLETED)
        for task in stopping:
            task.cancel()
        if not ended.done():  # stopped: the thread is joined; an error it ends with now is of no interest
            watcher.stop()
            ended.add_done_callback(lambda f: f.cancelled() or f.exception())
            return
        if ended.exception() is not None:
            self._wakes[mailbox.name].set()
            ended.result()
        # No IDLE on this server: nothing to watch until the stop, the poll loop's timer finds new mail.
        stopping = [asyncio.create_task(self._stopping.wait()), asyncio.create_task(run.ended.wait())]
        await asyncio.wait(stopping, return_when=asyncio.FIRST_COMPLETED)
        for task in stopping:
            task.cancel()

    async def _deliver_loop(self) -> None:
        """Send while mail is due; then wait `outbox_interval_seconds`, or less when a poll stored mail.

        After a failed pass it waits the job's backoff instead; a poll that stores mail ends that wait too (the
        database works again)."""
        while not self._stopping.is_set():
            self._deliver_wake.clear()
            outcome = await run_job(self.app, deliver_outbox, "deliver_outbox")
            await self._round_done(LoopName("deliver_outbox"))
            wait = outcome.retry_after or timedelta(seconds=self.app.settings.schedule.outbox_interval_seconds)
            await self._pause(wait.total_seconds(), self._deliver_wake)

    async def _shop_loop(self) -> None:
        """Look customers up in the `[shop]` when a poll stored mail, else every `timer_interval_seconds`; the
        notifications that waited for a lookup go out to the delivery loop at once (every daemon runs it: a
        notification's dedupe key keeps a second one from being queued)."""
        while not self._stopping.is_set():
            self._shop_wake.clear()
            outcome = await run_job(self.app, look_up_shop, "shop_lookup")
            self._deliver_wake.set()
            await self._round_done(LoopName("shop_lookup"))
            wait = outcome.retry_after or timedelta(seconds=self.timer_interval_seconds)
            # After a failure the backoff holds, but new mail still ends it: its notification must not wait longer.
            await self._pause(wait.total_seconds(), self._shop_wake)

    async def _timer_loop(self) -> None:
        """Run each ticket timer every `timer_interval_seconds`, once across the daemons on the database: the one
        that claims a due time runs it (`Fleet.claim_timer`); after a failed run it is due again after its backoff."""
        interval = timedelta(seconds=self.timer_interval_seconds)
        while not self._stopping.is_set():
            due = []
            for job, name in TIMERS:
                if self._stopping.is_set():
                    break
                every = TIMER_INTERVALS.get(name, interval)
                claimed, next_due = await asyncio.to_thread(self.fleet.claim_timer, name, every)
                if claimed:
                    outcome = await run_job(self.app, job, name)
                    if outcome.retry_after is not None:
                        next_due = await asyncio.to_thread(self.fleet.retry_timer, name, outcome.retry_after)
                due.append(self.fleet.seconds_until(next_due))
            if self.app.settings.audit.nightly and not self._stopping.is_set():
                due.append(await self._nightly_audit())
            await self._round_done(LoopName("timers"))
            await asyncio.to_thread(trim)  # the round's freed memory back to the system (runtime/memory.py)
            # Another daemon may claim the next due time first; this one then finds it claimed and waits again.
            await self._pause(min([*due, interval.total_seconds()]) + 0.05, None)

    async def _nightly_audit(self) -> float:
        """Audit every mailbox once across the daemons when `[audit] hour` has come (the first time: the next such
        hour after start); return the seconds until the audit is due again."""
        upcoming = next_nightly_audit(self.app, self.fleet.clock.now())
        claimed, next_due = await asyncio.to_thread(self.fleet.claim_timer_at, AUDIT_TIMER, upcoming)
        if claimed:
            outcome = await run_job(self.app, audit_mailboxes, AUDIT_TIMER)
            if outcome.retry_after is not None:
                next_due = await asyncio.to_thread(self.fleet.retry_timer, AUDIT_TIMER, outcome.retry_after)
        return self.fleet.seconds_until(next_due)

    async def _lease_loop(self) -> None:
        """Every third of `lease_seconds` (at most 5 s), every second while the fleet settles: beat, renew, take and
        give up leases (`_lease_round`)."""
        while not self._stopping.is_set():
            await self._pause(next_round_seconds(self._leases_settled, self.fleet.beat_seconds), None)
            if not self._stopping.is_set():
                await self._lease_round()
                await self._round_done(LoopName("leases"))

    async def _lease_round(self) -> None:
        """Start the loops of each mailbox this daemon now holds; stop those of the ones it lost, gives up, or whose
        poll found the lease lost (each stopped mailbox is started again once a later round holds it)."""
        held = await self._fleet_call(self.fleet.lease_round)
        self._leases_settled = held.settled
        for name, run in list(self._mailbox_runs.items()):
            if run.closing is None and (run.ended.is_set() or name not in held.held):
                run.closing = asyncio.create_task(self._close_mailbox(name, release=name in held.release))
        # Given up with no loops to stop (they ended when a poll found the lease lost, and a round after a database
        # outage kept the lease before others lived again): free it now, or this daemon renews it and nobody polls it.
        for name in sorted(held.release - self._mailbox_runs.keys()):
            await self._release(name)
        for mailbox in self.app.settings.mailboxes:
            if mailbox.name in held.held and mailbox.name not in self._mailbox_runs:
                self._start_mailbox(mailbox)

    def _start_mailbox(self, mailbox: MailboxSettings) -> None:
        run = self._mailbox_runs[mailbox.name] = MailboxRun(MailboxStop(self.app.stop_requested))
        for name, body, record, beat in self._mailbox_loops(mailbox):
            task = asyncio.create_task(self._supervise(name, body, record, beat, run.ended), name=str(name))
            task.add_done_callback(lambda t, run=run: run.ended.is_set() or self._supervisor_ended(t))
            run.tasks.append(task)
        log.info("polling mailbox=%s", mailbox.name)

    async def _close_mailbox(self, name: str, *, release: bool) -> None:
        """Stop a mailbox's loops (a poll in hand is finished) and, when this daemon gives it up, free its lease."""
        run = self._mailbox_runs[name]
        run.ended.set()
        run.give_up.set()
        await asyncio.gather(*run.tasks, return_exceptions=True)
        watchers = [self._watchers.pop(key) for key in list(self._watchers) if key[0] == name]
        await asyncio.to_thread(lambda: [w.join(timeout=5) for w in watchers])
        if self.watchdog is not None:
            self.watchdog.forget(name)
        del self._mailbox_runs[name]
        log.info("stopped polling mailbox=%s", name)
        if release:
            await self._release(name)

    async def _release(self, name: str) -> None:
        """Free a mailbox's lease this daemon gives up (its loops have ended)."""
        try:
            await self._fleet_call(partial(self.fleet.release, name))
        except Exception as exc:  # noqa: BLE001 - the lease then expires after lease_seconds
            log.error("cannot release the lease mailbox=%s error=%s", name, describe(exc))

    async def _fleet_call(self, call: Callable[[], T]) -> T:
        """Run a lease call in the fleet's own thread: polls of many mailboxes that fill asyncio's default threads for
        a long import must not delay the renewals until the leases expire."""
        return await asyncio.get_running_loop().run_in_executor(self._fleet_thread, call)

    async def _round_done(self, name: LoopName) -> None:
        """A loop finished a round: after a crash (or a start), end its failure episode; a refusal retries next round."""
        if name.health_name in self._unsettled and await record_loop_round(self.app, name.health_name):
            self._unsettled.discard(name.health_name)

    def _beat(self, loop: str) -> None:
        if self.watchdog is not None:
            self.watchdog.beat(loop)

    async def _ping_watchdog(self) -> None:
        """Ping systemd's watchdog from the event loop while no mailbox loop is stalled (see Watchdog)."""
        assert self.watchdog is not None
        while True:
            runs = [run for run in self._mailbox_runs.values() if not run.ended.is_set()]
            ended = [
                task.get_name() for task in [*self._supervisors, *(t for r in runs for t in r.tasks)] if task.done()
            ]
            if ended:
                log.error("watchdog: not pinging, these loops ended loops=%s", ",".join(ended))
            else:
                self.watchdog.ping()
            await asyncio.sleep(self.watchdog.interval)

    async def _write_health(self, error: str | None) -> None:
        if self.health_file is None:
            return
        try:
            await asyncio.to_thread(write_health_file, self.app, self.health_file, self.app.clock.now(), error)
        except Exception as exc:  # noqa: BLE001 - a full disk or a database down must not end the mailbox loop
            log.error("cannot write the health file path=%s error=%s", self.health_file, describe(exc))

    async def _pause(
        self, seconds: float, wake: asyncio.Event | None, loop: str | None = None, ended: asyncio.Event | None = None
    ) -> None:
        """Wait `seconds`, until stopped, woken or `ended`; a waiting loop beats the watchdog as it waits."""
        waiters = [asyncio.create_task(self._stopping.wait())]
        for event in (wake, ended):
            if event is not None:
                waiters.append(asyncio.create_task(event.wait()))
        deadline = asyncio.get_running_loop().time() + seconds
        # A backoff may last 30 minutes: waiting in slices of half the watchdog interval keeps a waiting loop alive.
        slice_seconds = self.watchdog.interval / 2 if self.watchdog is not None and loop else seconds
        done: set = set()
        while not done and (left := deadline - asyncio.get_running_loop().time()) > 0:
            if loop:
                self._beat(loop)
            done, _pending = await asyncio.wait(
                waiters, timeout=min(left, slice_seconds), return_when=asyncio.FIRST_COMPLETED
            )
        for task in waiters:
            task.cancel()


async def serve(app: App, *, health_file: Path | None = None) -> None:
    """Run the daemon until SIGTERM or SIGINT; on SIGHUP restart it with the re-read configuration."""
    loop = asyncio.get_running_loop()
    notifier, tally = Notifier.from_environment(), PollTally()
    watchdog_timeout = watchdog_seconds(os.environ)
    url = app.engine.url.render_as_string(hide_password=False)
    with run_lock(url, "daemon"):  # SQLite: one run per file
        if sqlite_path(url) is not None:  # so no other sender: what a killed run left `sending` is ours to send
            await asyncio.to_thread(take_back_claims, app)
        while True:
            daemon = Daemon(app, health_file, tally=tally, notifier=notifier, watchdog_timeout=watchdog_timeout)
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, daemon.stop)
            loop.add_signal_handler(signal.SIGHUP, daemon.reload)
            await daemon.run()
            app.preparer.close()
            if daemon.reload_settings is None:
                break
            app = await asyncio.to_thread(build_app, daemon.reload_settings, clock=app.clock)
            log.info("configuration reloaded mailboxes=%d", len(app.settings.mailboxes))
    log.info("daemon stopped cleanly")
