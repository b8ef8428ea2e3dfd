"""This daemon's place among the daemons on one database: its row, the mailboxes it holds, the timers it claims.

`Fleet` is built by the daemon (`runtime.daemon`) and called from its lease loop and timer loop, in a thread (each
call is one or two short transactions). It reads the real time of `base.clock.SystemClock`, not the app's clock:
leases measure whether processes live, not business time, and a replayed `MAILBRIDGE_NOW` or a test's fixed clock
must not expire them. Hosts that share a database therefore keep their clocks in step (NTP); `lease_seconds` is
far above any skew. `daemon_lock` keeps a second daemon off one SQLite file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailbridge.base.clock import Clock, SystemClock
from mailbridge.base.errors import ConfigError
from mailbridge.decisions.leases import live_daemons, plan_leases
from mailbridge.store import fleet as store
from mailbridge.store.fleet import Identity

log = logging.getLogger(__name__)
BEATS_PER_LEASE = 3  # the lease loop beats and renews every third of lease_seconds,
MAX_BEAT_SECONDS = 5.0  # and at least this often: a daemon that joins gets its share within seconds
FORGET_AFTER_LEASES = 10  # a daemon silent this many lease_seconds is dropped from the list `status` shows


@dataclass(frozen=True)
class LeaseRound:
    held: frozenset[str]  # the mailboxes this daemon polls until the next round
    release: frozenset[str]  # held beyond its share: stop their loops, then `release` them


class Fleet:
    """One daemon's view of the fleet; every method runs in a thread of the daemon (it blocks on the database)."""

    def __init__(self, engine: Engine, mailboxes: list[str], lease_seconds: float, clock: Clock | None = None):
        self.engine = engine
        self.mailboxes = mailboxes
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock or SystemClock()
        self.me = Identity(secrets.token_hex(8), socket.gethostname(), os.getpid())

    @property
    def beat_seconds(self) -> float:
        return min(self.lease.total_seconds() / BEATS_PER_LEASE, MAX_BEAT_SECONDS)

    def join(self) -> None:
        """Add this daemon's row."""
        store.register(self.engine, self.me, self.clock.now())
        log.info("daemon joined instance=%s host=%s pid=%s", self.me.instance, self.me.host, self.me.pid)

    def leave(self) -> None:
        """Remove this daemon's row and free its leases (a clean stop; a crash leaves them to expire)."""
        store.unregister(self.engine, self.me, self.clock.now())
        log.info("daemon left instance=%s", self.me.instance)

    def lease_round(self) -> LeaseRound:
        """Beat, renew what this daemon holds, take free or expired leases up to its fair share."""
        now = self.clock.now()
        beats = store.beat(self.engine, self.me, now, now - FORGET_AFTER_LEASES * self.lease)
        live = live_daemons(beats, now, self.lease)
        leases = store.read_leases(self.engine, self.mailboxes)
        plan = plan_leases(self.me.instance, self.mailboxes, leases, live, now)
        until = now + self.lease
        # The leases to release are renewed too: this daemon polls them until their loops have ended.
        held = store.renew(self.engine, self.me, [*plan.keep, *plan.release], until)
        for mailbox in plan.take:
            if store.take(self.engine, self.me, mailbox, now, until):
                log.info("lease taken mailbox=%s instance=%s", mailbox, self.me.instance)
                held.add(mailbox)
        for mailbox in sorted(set(plan.keep) - held):
            log.warning("lease lost mailbox=%s instance=%s", mailbox, self.me.instance)
        release = frozenset(plan.release) & held
        return LeaseRound(frozenset(held - release), release)

    def release(self, mailbox: str) -> None:
        """Free a mailbox's lease once this daemon's loops for it have ended."""
        store.release(self.engine, self.me, mailbox, self.clock.now())
        log.info("lease released mailbox=%s instance=%s", mailbox, self.me.instance)

    def fence(self, mailbox: str) -> Callable[[Session], None]:
        """The check intake runs in a batch's transaction before it commits, and a poll before it marks.

        Raises (when called): LeaseLost once this daemon no longer holds an unexpired lease on the mailbox.
        """

        def check(session: Session) -> None:
            store.check_lease(session, self.me, mailbox, self.clock.now())

        return check

    def claim_timer(self, job: str, interval: timedelta) -> tuple[bool, datetime]:
        """Claim the timer's current due time if it has come; return (claimed, the next due time)."""
        now = self.clock.now()
        return store.claim_timer(self.engine, self.me, job, now, now + interval)

    def retry_timer(self, job: str, after: timedelta) -> datetime:
        """After a failed run of a timer this daemon claimed: due again after `after`; return when."""
        due = self.clock.now() + after
        store.reschedule_timer(self.engine, self.me, job, due)
        return due

    def seconds_until(self, when: datetime) -> float:
        return (when - self.clock.now()).total_seconds()


class MailboxStop(threading.Event):
    """Set when this daemon gives a mailbox up, and reads as set once the daemon stops: the poll of that mailbox ends
    at the next message either way (as `is_set` only: `wait` does not see the daemon's stop)."""

    def __init__(self, daemon_stop: threading.Event):
        super().__init__()
        self.daemon_stop = daemon_stop

    def is_set(self) -> bool:
        return super().is_set() or self.daemon_stop.is_set()


@contextmanager
def daemon_lock(engine: Engine) -> Iterator[None]:
    """On SQLite, hold an exclusive lock on `DATABASE.daemon-lock` while the daemon runs; elsewhere do nothing.

    The kernel drops a flock(2) lock when its process ends, however it ends, so a crash never leaves a stale lock.

    Raises: ConfigError when another daemon holds it.
    """
    url = engine.url
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        yield
        return
    path = Path(f"{url.database}.daemon-lock")
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 100, 0).decode(errors="replace").strip() or "another process"
            raise ConfigError(
                f"another `mailbridge run` ({holder}) uses the SQLite database {url.database}; one daemon per "
                "SQLite file (several daemons need PostgreSQL)"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)
