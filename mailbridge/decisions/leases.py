"""Decision: which mailboxes one daemon of a fleet polls after a lease round, and which daemons are alive.

Pure: the runtime (`runtime.fleet`) reads the leases and the daemons' last beats, asks `plan_leases`, and carries
the plan out with compare-and-set updates (`store.fleet`), so two daemons never hold the same mailbox even when
they plan at the same moment.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

FORGET_AFTER_LEASES = 10  # a daemon silent this many lease_seconds died: any `mailbridge run` removes its row
QUICK_ROUND_SECONDS = 1.0  # the next lease round while the fleet settles (see `next_round_seconds`)


@dataclass(frozen=True)
class Lease:
    """A mailbox's lease as read: its holder (a daemon's instance id, None when free) and until when."""

    holder: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class LeasePlan:
    keep: tuple[str, ...]  # held by this daemon, within its share: renewed
    take: tuple[str, ...]  # free or expired: to be taken, each only if still free when the update runs
    release: tuple[str, ...]  # held by this daemon beyond its share while others live: stopped, then freed
    waiting: bool = False  # short of its share while another live daemon holds more than its own: it gives some up


def is_live(last_beat: datetime | None, now: datetime, lease: timedelta) -> bool:
    """A daemon runs while it beat within the last `lease`; one silent longer is hung or dead (`status` shows it
    as stopped, `status --check` warns of it)."""
    return last_beat is not None and now - last_beat < lease


def live_daemons(beats: Mapping[str, datetime], now: datetime, lease: timedelta) -> frozenset[str]:
    """The daemons that beat within the last `lease` (a daemon that stopped beating is dead or hung)."""
    return frozenset(instance for instance, beat in beats.items() if is_live(beat, now, lease))


def forget_before(now: datetime, lease: timedelta) -> datetime:
    """Daemon rows whose last beat is older than this are removed by any `mailbridge run` (a daemon's lease round,
    `run --once`): silent for FORGET_AFTER_LEASES leases, the daemon died without leaving (a clean stop removes its
    own row; a hung one that wakes writes its row again at its next beat)."""
    return now - FORGET_AFTER_LEASES * lease


@dataclass(frozen=True)
class OncePlan:
    """What `run --once` does with each mailbox beside the daemons of a fleet."""

    take: tuple[str, ...]  # free or expired: polled under a lease of its own, each only if still free when taken
    skipped: tuple[tuple[str, str], ...]  # (mailbox, holder): a live lease of another process, not polled


def plan_once(mailboxes: Sequence[str], leases: Mapping[str, Lease], now: datetime) -> OncePlan:
    """`run --once` polls every mailbox whose lease is free or expired, and skips those another process holds.

    Unlike a daemon it takes no share: it runs once and ends, so it takes all it may and releases them at the end.
    """
    unheld = Lease(None, None)
    take = tuple(m for m in mailboxes if _is_free(leases.get(m, unheld), "", now))
    skipped = tuple((m, leases[m].holder or "") for m in mailboxes if m not in take)
    return OncePlan(take, skipped)


def held_by(holder: str | None, daemon: tuple[str, int] | None) -> str:
    """Why a mailbox is skipped beside the fleet: "held by daemon HOST:PID" (`daemon`: the holder's row, its host and
    pid), by another `run --once` (an instance id starting "once-"), or by a holder whose row is gone.

    One wording for `run --once` (runtime/fleet.OnceFleet) and its short cycle (runtime/idle_cycle)."""
    if daemon is not None:
        host, pid = daemon
        return f"held by daemon {host}:{pid}"
    if holder and holder.startswith("once-"):
        return "held by another `run --once`"
    return f"held by {holder or 'another process'}"


def fair_share(mailboxes: int, live: int) -> int:
    """How many mailboxes one daemon may hold while `live` daemons (itself included) share them."""
    return math.ceil(mailboxes / max(live, 1))


def plan_leases(
    me: str, mailboxes: Sequence[str], leases: Mapping[str, Lease], live: Collection[str], now: datetime
) -> LeasePlan:
    """Plan this daemon's lease round: keep what it holds up to its share, take free or expired leases up to it.

    A lease this daemon holds stays its own even past its expiry (no one took it, or the row would name another
    holder). Free leases are taken starting at an offset given by the daemon's rank among the live ones, so daemons
    that plan at the same moment mostly reach for different mailboxes.
    """
    everyone = sorted(set(live) | {me})
    share = fair_share(len(mailboxes), len(everyone))
    unheld = Lease(None, None)
    mine = [m for m in mailboxes if leases.get(m, unheld).holder == me]
    free = [m for m in mailboxes if _is_free(leases.get(m, unheld), me, now)]
    keep, release = mine[:share], mine[share:]
    room = max(share - len(keep), 0)
    if free:
        start = (everyone.index(me) * share) % len(free)
        free = free[start:] + free[:start]
    held_by_others = Counter(
        lease.holder for m in mailboxes if (lease := leases.get(m, unheld)).holder in everyone and lease.holder != me
    )
    waiting = room > len(free) and any(count > share for count in held_by_others.values())
    return LeasePlan(tuple(keep), tuple(free[:room]), tuple(release), waiting)


def round_settled(changed: bool, waiting: bool, live_before: Collection[str], live: Collection[str]) -> bool:
    """Whether a lease round leaves the fleet settled (the next round after a beat) or not (after a second).

    `changed`: the round took, gave up or lost a lease of this daemon; `waiting`: the plan's `waiting` (short of its
    share while another live daemon holds more than its own); `live_before`, `live`: the live daemons the previous
    round and this one saw (one joined, left, died or woke).
    """
    return not (changed or waiting or frozenset(live_before) != frozenset(live))


def next_round_seconds(settled: bool, beat_seconds: float) -> float:
    """Seconds until a daemon's next lease round: every beat once the fleet is settled, after a second while not.

    Not settled (`round_settled`): the last round took, gave up or lost a lease, saw the set of live daemons change,
    or left this daemon short of its share while another holds more (it gives some up at its next round). Daemons
    started together each take every free mailbox before they see one another, and a daemon joining a fleet holds
    nothing until the others give up their surplus: quick rounds spread the mailboxes within a few seconds, not a
    few beats (a settled daemon sees a newcomer at its next beat).
    """
    return beat_seconds if settled else min(QUICK_ROUND_SECONDS, beat_seconds)


def _is_free(lease: Lease, me: str, now: datetime) -> bool:
    if lease.holder == me:
        return False
    return lease.holder is None or lease.expires_at is None or lease.expires_at <= now
