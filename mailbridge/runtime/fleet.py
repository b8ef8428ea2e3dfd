"""This daemon's place among the daemons on one database: its row, the mailboxes it holds, the timers it claims.

`Fleet` is built by the daemon (`runtime.daemon`) and called from its lease loop and timer loop, in a thread (each
call is one or two short transactions). It reads the real time of `base.clock.SystemClock`, not the app's clock:
leases measure whether processes live, not business time, and a replayed `MAILBRIDGE_NOW` or a test's fixed clock
must not expire them. Hosts that share a database therefore keep their clocks in step (NTP); `lease_seconds` is
far above any skew. `OnceFleet` is `run --once` beside the daemons: it takes the leases of the mailboxes no
daemon holds for its one cycle. On SQLite the file's lock (runtime/run_lock.py) keeps the processes apart instead.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailbridge.base.clock import Clock, SystemClock
from mailbridge.decisions.leases import forget_before, held_by, live_daemons, plan_leases, plan_once, round_settled
from mailbridge.runtime.outcomes import Skipped
from mailbridge.store import fleet as store
from mailbridge.store.fleet import Identity

log = logging.getLogger(__name__)
BEATS_PER_LEASE = 3  # the lease loop beats and renews every third of lease_seconds,
MAX_BEAT_SECONDS = 5.0  # and at least this often: a daemon that joins gets its share within seconds
# Begins the instance id of every daemon of this process: a row of this host and pid without it is an earlier
# process's that had the same pid (a container restarted: pid 1 again), so that process is gone.
PROCESS_MARK = secrets.token_hex(4)


@dataclass(frozen=True)
class LeaseRound:
    held: frozenset[str]  # the mailboxes this daemon polls until the next round
    release: frozenset[str]  # held beyond its share: stop their loops, then `release` them
    settled: bool = True  # False: the next round comes soon (`decisions.leases.next_round_seconds`)


class Fleet:
    """One daemon's view of the fleet; every method runs in a thread of the daemon (it blocks on the database)."""

    def __init__(self, engine: Engine, mailboxes: list[str], lease_seconds: float, clock: Clock | None = None):
        self.engine = engine
        self.mailboxes = mailboxes
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock or SystemClock()
        self.me = Identity(PROCESS_MARK + secrets.token_hex(4), socket.gethostname(), os.getpid())
        self._live_seen: frozenset[str] = frozenset()  # the live daemons the last lease round saw

    @property
    def beat_seconds(self) -> float:
        return min(self.lease.total_seconds() / BEATS_PER_LEASE, MAX_BEAT_SECONDS)

    def join(self) -> None:
        """Add this daemon's row; remove the rows of daemons of this host whose process is gone, freeing their leases."""
        now = self.clock.now()
        store.register(self.engine, self.me, now)
        log.info("daemon joined instance=%s host=%s pid=%s", self.me.instance, self.me.host, self.me.pid)
        # A daemon killed without leaving (SIGKILL, OOM, power) and started again would otherwise poll nothing
        # until the dead one's leases expire, and `status --check` would call it silent until its row is forgotten;
        # on its own host its death is certain. A live daemon's row and lease freed by mistake (another PID
        # namespace under the same host name) come back at its next beat, and the fence keeps its commits safe.
        # Daemons of this very process (tests run several) share PROCESS_MARK and are kept.
        gone = [
            other.instance
            for other in store.daemons_on_host(self.engine, self.me.host)
            if (other.pid == self.me.pid and not other.instance.startswith(PROCESS_MARK))
            or (other.pid != self.me.pid and not process_exists(other.pid))
        ]
        if store.forget(self.engine, gone, now):
            log.info(
                "removed the rows of %d daemons of this host that ended without leaving; their leases and the mail "
                "they were sending are free",
                len(gone),
            )

    def leave(self) -> None:
        """Remove this daemon's row and free its leases (a clean stop; a crash leaves them to expire)."""
        store.unregister(self.engine, self.me, self.clock.now())
        log.info("daemon left instance=%s", self.me.instance)

    def lease_round(self) -> LeaseRound:
        """Beat, renew what this daemon holds, take free or expired leases up to its fair share."""
        now = self.clock.now()
        beats = store.beat(self.engine, self.me, now, forget_before(now, self.lease))
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
        lost = set(plan.keep) - held
        for mailbox in sorted(lost):
            log.warning("lease lost mailbox=%s instance=%s", mailbox, self.me.instance)
        release = frozenset(plan.release) & held
        changed = bool(set(plan.take) & held or release or lost)
        settled = round_settled(changed, plan.waiting, self._live_seen, live)
        self._live_seen = live
        return LeaseRound(frozenset(held - release), release, settled)

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

    def claim_timer_at(self, job: str, next_due: datetime) -> tuple[bool, datetime]:
        """Claim the timer's current due time if it has come, the next one being `next_due` (a timer seen for the
        first time is due then); return (claimed, the next due time)."""
        return store.claim_timer(self.engine, self.me, job, self.clock.now(), next_due)

    def retry_timer(self, job: str, after: timedelta) -> datetime:
        """After a failed run of a timer this daemon claimed: due again after `after`; return when."""
        due = self.clock.now() + after
        store.reschedule_timer(self.engine, self.me, job, due)
        return due

    def seconds_until(self, when: datetime) -> float:
        return (when - self.clock.now()).total_seconds()


def process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this host (signal 0 checks without sending anything)."""
    if pid <= 0:
        return False  # never a real daemon's; os.kill would signal a process group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class MailboxStop:
    """Set when this daemon gives a mailbox up, and reads as set once the daemon stops: the poll of that mailbox ends
    at the next message either way. Implements `StopSignal`; not a threading.Event, whose `wait` could not see the
    daemon's stop."""

    def __init__(self, daemon_stop: threading.Event):
        self._given_up = threading.Event()
        self._daemon_stop = daemon_stop

    def set(self) -> None:
        """Give the mailbox up."""
        self._given_up.set()

    def is_set(self) -> bool:
        return self._given_up.is_set() or self._daemon_stop.is_set()


class OnceFleet(Fleet):
    """`run --once` beside the daemons on one PostgreSQL: it polls the mailboxes no live process holds, under leases
    of its own (taken, renewed and checked with the daemons' compare-and-set functions, released at the end), and
    runs each timer only if it claims the timer's due time. It writes no daemon row: it is no daemon, and the daemons
    must not count it when they share the mailboxes."""

    def __init__(self, engine: Engine, mailboxes: list[str], lease_seconds: float, clock: Clock | None = None):
        super().__init__(engine, mailboxes, lease_seconds, clock)
        self.me = Identity(f"once-{secrets.token_hex(6)}", self.me.host, self.me.pid)
        self.held: set[str] = set()
        self._renewing = threading.Event()
        self._renewer: threading.Thread | None = None

    def forget_dead(self) -> int:
        """Remove the rows of daemons silent for FORGET_AFTER_LEASES leases (killed without leaving)."""
        forgotten = store.forget_silent(self.engine, forget_before(self.clock.now(), self.lease))
        if forgotten:
            log.info("removed the rows of %d daemons silent for too long", forgotten)
        return forgotten

    def take_free(self) -> tuple[Skipped, ...]:
        """Take the lease of every mailbox no live process holds; return the others, each with its holder. Renews
        what it took every beat until `release_all`, so a long import keeps them."""
        now = self.clock.now()
        plan = plan_once(self.mailboxes, store.read_leases(self.engine, self.mailboxes), now)
        until = now + self.lease
        lost = []
        for mailbox in plan.take:
            if store.take(self.engine, self.me, mailbox, now, until):
                self.held.add(mailbox)
            else:
                lost.append(mailbox)  # a daemon took it first
        holders = dict(plan.skipped)
        if lost:
            holders |= {m: lease.holder or "" for m, lease in store.read_leases(self.engine, lost).items()}
        names = store.daemon_names(self.engine) if holders else {}
        skipped = tuple(Skipped(m, held_by(holders[m], names.get(holders[m]))) for m in self.mailboxes if m in holders)
        self._renewer = threading.Thread(target=self._renew, name="once-leases", daemon=True)
        self._renewer.start()
        return skipped

    def _renew(self) -> None:
        while not self._renewing.wait(self.beat_seconds):
            try:
                store.renew(self.engine, self.me, sorted(self.held), self.clock.now() + self.lease)
            except Exception as exc:  # noqa: BLE001 - the fence stops a poll whose lease ran out; the cycle goes on
                log.error("cannot renew the leases of run --once error=%s", exc)

    def release_all(self) -> None:
        """Stop renewing and free every lease this run took."""
        self._renewing.set()
        if self._renewer is not None:
            self._renewer.join(timeout=30)
        for mailbox in sorted(self.held):
            store.release(self.engine, self.me, mailbox, self.clock.now())
        self.held.clear()

    def claim_now(self, job: str) -> bool:
        """Claim the timer's due time if it has come (a timer seen for the first time is due now), holding it for a
        lease while the timer runs: a daemon that finds it claimed waits."""
        now = self.clock.now()
        claimed, _next_due = store.claim_timer(self.engine, self.me, job, now, now + self.lease, first_due=now)
        return claimed

    def hand_back(self, job: str) -> None:
        """After the run of a timer this process claimed: due again now, so the daemons keep their own rhythm."""
        store.reschedule_timer(self.engine, self.me, job, self.clock.now())
