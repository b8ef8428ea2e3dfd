"""`mailbridge run`: build the app, poll each mailbox in its own loop (woken by IDLE), send the outbox in a
loop of its own, and stop cleanly on SIGTERM/SIGINT (the message in hand is finished first).
SIGHUP re-reads mailbridge.toml and restarts the loops with it; a bad file is logged and ignored.

Each mailbox loop polls, then waits `poll_interval_seconds` or until its IDLE watcher reports new
mail. After a failure the loop waits out the backoff (kept in memory here, and shown in
MailboxHealth for `mailbridge status`), and wakes are ignored until then. Nothing ends a loop but a
stop: a failed poll is recorded by the job, and a health file that cannot be written is logged.

The delivery loop sends until nothing is due (`deliver_outbox`, over `[smtp] max_connections`
connections), then waits `outbox_interval_seconds` or until a poll has stored mail.

After each poll the health file and the `[metrics] textfile` are rewritten. Under systemd (`Type=notify`,
$NOTIFY_SOCKET set) READY=1 is sent once the loops run, and WATCHDOG=1 every half WatchdogSec while every
mailbox loop has shown life (a poll started, a batch stored, a poll ended, a wait going on) within WatchdogSec.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from mailbridge.base.config.settings import MailboxSettings, Settings, load_settings
from mailbridge.base.errors import ConfigError
from mailbridge.ingest.sources.idle import IdleWatcher, start_watchers
from mailbridge.runtime.app import App, build_app, check_contacts_of
from mailbridge.runtime.health import write_health_file
from mailbridge.runtime.jobs import (
    check_sla,
    close_idle_tickets,
    deliver_outbox,
    describe,
    poll_one_job,
    safe_job,
    write_metrics,
)
from mailbridge.runtime.metrics import PollTally
from mailbridge.runtime.systemd import Notifier, PollHeartbeat, Watchdog, watchdog_seconds

log = logging.getLogger(__name__)
TIMER_INTERVAL_SECONDS = 60


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
    ):
        self.app = app
        self.health_file = health_file
        self.tally = tally or PollTally()  # kept across SIGHUP restarts by serve(): the counters of this process
        self.notifier = notifier or Notifier(None)
        has_watchdog = self.notifier.is_enabled and watchdog_timeout
        self.watchdog = Watchdog(self.notifier, watchdog_timeout) if has_watchdog else None
        self.reload_settings: Settings | None = None  # set by SIGHUP: run() returns and serve() restarts
        self.watchers: list[IdleWatcher] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._wakes: dict[str, asyncio.Event] = {}
        self._deliver_wake = asyncio.Event()  # set when a poll stored mail: its receipts are due now
        self.poll_counts: dict[str, int] = {}  # polls finished per mailbox, for tests and logs
        self.polling: set[str] = set()  # mailboxes whose poll runs right now

    async def run(self) -> None:
        """Run the mailbox loops, the IDLE watchers and the outbox job until stopped."""
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        mailboxes = self.app.settings.mailboxes
        self._wakes = {m.name: asyncio.Event() for m in mailboxes}
        scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        # The ticket timers work in days and hours; once a minute is more than precise enough.
        for job, name in ((close_idle_tickets, "close_idle_tickets"), (check_sla, "check_sla")):
            scheduler.add_job(safe_job, "interval", args=(self.app, job, name), seconds=TIMER_INTERVAL_SECONDS, id=name)
        if self.watchdog is not None:
            self.app.progress = PollHeartbeat(self.watchdog, [m.name for m in mailboxes])
        loops = [asyncio.create_task(self._poll_loop(m)) for m in mailboxes]
        self.watchers = start_watchers(self.app.open_source, mailboxes, self._wake_callback)
        delivering = asyncio.create_task(self._deliver_loop())
        scheduler.start()
        log.info("daemon started mailboxes=%d", len(mailboxes))
        self.notifier.send(READY=1, STATUS=f"polling {len(mailboxes)} mailboxes")
        pinging = asyncio.create_task(self._ping_watchdog()) if self.watchdog is not None else None
        await self._stopping.wait()
        self.notifier.send(**({"RELOADING": 1} if self.reload_settings else {"STOPPING": 1}))
        log.info("stopping: waiting for running jobs")
        for watcher in self.watchers:
            watcher.stop()
        await asyncio.gather(*loops, delivering)
        if pinging is not None:
            pinging.cancel()
        scheduler.shutdown(wait=True)
        await asyncio.to_thread(lambda: [w.join(timeout=5) for w in self.watchers])

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
        wake = self._wakes[mailbox.name]
        while not self._stopping.is_set():
            wake.clear()
            self.polling.add(mailbox.name)
            self._beat(mailbox.name)
            outcome = await poll_one_job(self.app, mailbox)
            self._beat(mailbox.name)
            self.polling.discard(mailbox.name)
            self.poll_counts[mailbox.name] = self.poll_counts.get(mailbox.name, 0) + 1
            self.tally.record(mailbox.name, outcome.result)
            if outcome.result is not None and outcome.result.stored:
                self._deliver_wake.set()  # the receipts and notices it queued go out now, not at the next interval
            await self._write_health(outcome.error)
            if self.app.settings.metrics.textfile is not None:
                await write_metrics(self.app, self.app.settings.metrics.textfile, self.tally)
            if outcome.retry_after is not None:
                await self._pause(outcome.retry_after.total_seconds(), None, mailbox.name)
            else:
                await self._pause(self.app.settings.schedule.poll_interval_seconds, wake, mailbox.name)
        if self.watchdog is not None:
            self.watchdog.forget(mailbox.name)

    async def _deliver_loop(self) -> None:
        """Send while mail is due; then wait `outbox_interval_seconds`, or less when a poll stored mail."""
        while not self._stopping.is_set():
            self._deliver_wake.clear()
            await safe_job(self.app, deliver_outbox, "deliver_outbox")
            await self._pause(self.app.settings.schedule.outbox_interval_seconds, self._deliver_wake)

    def _beat(self, loop: str) -> None:
        if self.watchdog is not None:
            self.watchdog.beat(loop)

    async def _ping_watchdog(self) -> None:
        """Ping systemd's watchdog from the event loop while no mailbox loop is stalled (see Watchdog)."""
        assert self.watchdog is not None
        while True:
            self.watchdog.ping()
            await asyncio.sleep(self.watchdog.interval)

    async def _write_health(self, error: str | None) -> None:
        if self.health_file is None:
            return
        try:
            await asyncio.to_thread(write_health_file, self.app, self.health_file, self.app.clock.now(), error)
        except Exception as exc:  # noqa: BLE001 - a full disk or a database down must not end the mailbox loop
            log.error("cannot write the health file path=%s error=%s", self.health_file, describe(exc))

    async def _pause(self, seconds: float, wake: asyncio.Event | None, loop: str | None = None) -> None:
        """Wait `seconds`, until stopped or woken; a waiting loop beats the watchdog as it waits."""
        waiters = [asyncio.create_task(self._stopping.wait())]
        if wake is not None:
            waiters.append(asyncio.create_task(wake.wait()))
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
