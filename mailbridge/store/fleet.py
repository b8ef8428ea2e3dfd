"""I/O: the daemons of a fleet on one database, their mailbox leases and the timers' due times.

Called by `runtime.fleet`, for the daemons and for `run --once` (each function opens and commits its own short transaction, except `check_lease`, which
runs in the caller's batch transaction). Every change of a lease or a due time is a compare-and-set UPDATE whose
WHERE clause says what the caller saw, so of two daemons racing for one row exactly one changes it: PostgreSQL
re-checks the WHERE clause of an UPDATE that waited for another's row lock against the row as that one left it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailbridge.base.clock import utc
from mailbridge.base.errors import LeaseLost
from mailbridge.decisions.leases import Lease
from mailbridge.store import db
from mailbridge.store.db import run, table_of
from mailbridge.store.models import DaemonRow, MailboxLease, TimerDue
from mailbridge.store.outbox_queue import free_claims_of

_daemon = table_of(DaemonRow)
_lease = table_of(MailboxLease)
_timer = table_of(TimerDue)


@dataclass(frozen=True)
class Identity:
    """One daemon process: its random instance id, host and pid."""

    instance: str
    host: str
    pid: int


def register(engine: Engine, me: Identity, now: datetime) -> None:
    """Add this daemon's row (a new instance id every start)."""
    with db.transaction(engine) as session:
        run(
            session,
            _daemon.insert(),
            {"instance": me.instance, "host": me.host, "pid": me.pid, "started_at": now, "last_beat_at": now},
        )


def beat(engine: Engine, me: Identity, now: datetime, forget_before: datetime) -> dict[str, datetime]:
    """Note that this daemon lives (its row again if someone removed it), forget daemons silent since before
    `forget_before` (they died: a clean stop removes its own row); return every daemon's last beat."""
    with db.transaction(engine) as session:
        run(session, delete(_daemon).where(_daemon.c.last_beat_at < forget_before))
        found = run(session, update(_daemon).where(_daemon.c.instance == me.instance).values(last_beat_at=now)).rowcount
        if not found:
            values = {"instance": me.instance, "host": me.host, "pid": me.pid, "started_at": now, "last_beat_at": now}
            run(session, _daemon.insert(), values)
        rows = run(session, select(_daemon.c.instance, _daemon.c.last_beat_at))
        return {instance: utc(at) for instance, at in rows}


def forget_silent(engine: Engine, forget_before: datetime) -> int:
    """Remove the rows of daemons silent since before `forget_before` (they died: a clean stop removes its own row);
    return how many. Run by `run --once`; a daemon does the same in each `beat`. Their claimed mail waits out its
    lease: a silent daemon may be a frozen one, not a dead one."""
    with db.transaction(engine) as session:
        return run(session, delete(_daemon).where(_daemon.c.last_beat_at < forget_before)).rowcount


def daemons_on_host(engine: Engine, host: str) -> list[Identity]:
    """The daemon rows of `host` (how a daemon that starts finds those a crash left behind on its host)."""
    with db.transaction(engine) as session:
        rows = run(session, select(_daemon.c.instance, _daemon.c.host, _daemon.c.pid).where(_daemon.c.host == host))
        return [Identity(instance, row_host, pid) for instance, row_host, pid in rows]


def forget(engine: Engine, instances: Iterable[str], now: datetime) -> int:
    """Remove the rows of these daemons, known to be dead, free their leases as a clean stop would, and make the mail
    they had claimed due at once (not after SENDING_LEASE); return how many rows."""
    wanted = list(instances)
    if not wanted:
        return 0
    with db.transaction(engine) as session:
        run(session, update(_lease).where(_lease.c.holder.in_(wanted)).values(holder=None, expires_at=now))
        free_claims_of(session=session, instances=wanted)
        return run(session, delete(_daemon).where(_daemon.c.instance.in_(wanted))).rowcount


def daemon_names(engine: Engine) -> dict[str, tuple[str, int]]:
    """Each daemon row's instance -> (host, pid) (how `run --once` names the holder of a mailbox it skips)."""
    with db.transaction(engine) as session:
        rows = run(session, select(_daemon.c.instance, _daemon.c.host, _daemon.c.pid))
        return {instance: (host, pid) for instance, host, pid in rows}


def unregister(engine: Engine, me: Identity, now: datetime) -> None:
    """Remove this daemon's row and free every lease it holds (a clean stop)."""
    with db.transaction(engine) as session:
        # A free lease keeps when it was freed in expires_at: `status --check` tells a hand-over from a gap.
        run(session, update(_lease).where(_lease.c.holder == me.instance).values(holder=None, expires_at=now))
        run(session, delete(_daemon).where(_daemon.c.instance == me.instance))


def read_leases(engine: Engine, mailboxes: Iterable[str]) -> dict[str, Lease]:
    """Every lease of these mailboxes (a free row is added first for a mailbox seen for the first time)."""
    names = list(mailboxes)
    with db.transaction(engine) as session:
        for name in names:
            values = {"mailbox": name, "holder": None, "expires_at": None, "taken_at": None}
            db.insert_values_unless_taken(session, _lease, values, unique="mailbox")
        rows = run(session, select(_lease.c.mailbox, _lease.c.holder, _lease.c.expires_at))
        return {mailbox: Lease(holder, utc(expires)) for mailbox, holder, expires in rows if mailbox in names}


_RENEW = (
    update(_lease)
    .where(_lease.c.mailbox == bindparam("name"), _lease.c.holder == bindparam("me"))
    .values(expires_at=bindparam("until"))
)
_TAKE = (
    update(_lease)
    .where(
        _lease.c.mailbox == bindparam("name"),
        or_(
            _lease.c.holder.is_(None),
            _lease.c.expires_at.is_(None),
            _lease.c.expires_at <= bindparam("now"),
        ),
    )
    .values(holder=bindparam("me"), expires_at=bindparam("until"), taken_at=bindparam("now"))
)


def renew(engine: Engine, me: Identity, mailboxes: Iterable[str], until: datetime) -> set[str]:
    """Extend the leases this daemon still holds; return those it held (a lease another took is not touched)."""
    held = set()
    with db.transaction(engine) as session:
        for name in mailboxes:
            if run(session, _RENEW, {"name": name, "me": me.instance, "until": until}).rowcount:
                held.add(name)
    return held


def take(engine: Engine, me: Identity, mailbox: str, now: datetime, until: datetime) -> bool:
    """Take a lease that is free or expired; False when another daemon took it first."""
    with db.transaction(engine) as session:
        params = {"name": mailbox, "me": me.instance, "until": until, "now": now}
        return bool(run(session, _TAKE, params).rowcount)


def release(engine: Engine, me: Identity, mailbox: str, now: datetime) -> None:
    """Free a lease this daemon holds (its loops for the mailbox have ended), noting when."""
    with db.transaction(engine) as session:
        run(
            session,
            update(_lease)
            .where(_lease.c.mailbox == mailbox, _lease.c.holder == me.instance)
            .values(holder=None, expires_at=now),
        )


def check_lease(session: Session, me: Identity, mailbox: str, now: datetime) -> None:
    """Fence, in the caller's transaction: go on only while this daemon holds an unexpired lease on the mailbox.

    Raises: LeaseLost (the caller rolls back and marks nothing).
    """
    row = run(session, select(_lease.c.holder, _lease.c.expires_at).where(_lease.c.mailbox == mailbox)).first()
    holder, expires_at = (row[0], utc(row[1])) if row is not None else (None, None)
    if holder != me.instance or expires_at is None or expires_at <= now:
        raise LeaseLost(
            f"lease of mailbox {mailbox} lost: held by {holder or 'no daemon'}"
            + (f" until {expires_at.isoformat(timespec='seconds')}" if expires_at else "")
        )


_CLAIM = (
    update(_timer)
    .where(
        _timer.c.job == bindparam("timer"),
        _timer.c.next_due == bindparam("seen"),
        _timer.c.next_due <= bindparam("now"),
    )
    .values(next_due=bindparam("due"), claimed_by=bindparam("me"), claimed_at=bindparam("now"))
)


def claim_timer(
    engine: Engine, me: Identity, job: str, now: datetime, next_due: datetime, first_due: datetime | None = None
) -> tuple[bool, datetime]:
    """Claim the due time of a timer that is due now; return (claimed, its next due time as the row now says).

    A timer seen for the first time is due at `first_due` (default `next_due`), unclaimed. Of daemons that claim one
    due time at once, one sets the next due time; the others find the row changed and run nothing.
    """
    with db.transaction(engine) as session:
        values = {"job": job, "next_due": first_due or next_due, "claimed_by": "", "claimed_at": None}
        db.insert_values_unless_taken(session, _timer, values, unique="job")
        seen = run(session, select(_timer.c.next_due).where(_timer.c.job == job)).scalar_one()
        if utc(seen) > now:
            return False, utc(seen)
        params = {"timer": job, "seen": seen, "now": now, "due": next_due, "me": me.instance}
        claimed = bool(run(session, _CLAIM, params).rowcount)
        return claimed, next_due if claimed else utc(
            run(session, select(_timer.c.next_due).where(_timer.c.job == job)).scalar_one()
        )


def reschedule_timer(engine: Engine, me: Identity, job: str, next_due: datetime) -> None:
    """Move the next due time of a timer this daemon claimed last (after a failed run: its backoff)."""
    with db.transaction(engine) as session:
        run(
            session,
            update(_timer).where(_timer.c.job == job, _timer.c.claimed_by == me.instance).values(next_due=next_due),
        )
