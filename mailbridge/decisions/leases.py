"""Decision: which mailboxes one daemon of a fleet polls after a lease round, and which daemons are alive.

Pure: the runtime (`runtime.fleet`) reads the leases and the daemons' last beats, asks `plan_leases`, and carries
the plan out with compare-and-set updates (`store.fleet`), so two daemons never hold the same mailbox even when
they plan at the same moment.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


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


def live_daemons(beats: Mapping[str, datetime], now: datetime, lease: timedelta) -> frozenset[str]:
    """The daemons that beat within the last `lease` (a daemon that stopped beating is dead or hung)."""
    return frozenset(instance for instance, beat in beats.items() if now - beat < lease)


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
    return LeasePlan(tuple(keep), tuple(free[:room]), tuple(release))


def _is_free(lease: Lease, me: str, now: datetime) -> bool:
    if lease.holder == me:
        return False
    return lease.holder is None or lease.expires_at is None or lease.expires_at <= now
