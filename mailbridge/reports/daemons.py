"""Read-only queries for `mailbridge status`: the daemons running on this database and the mailboxes each holds, and
the figures `status --check` judges them by (`decisions.monitoring.fleet_findings`).

Takes a `store.reader.Reader` (plain SQL, like `reports.status`), returns frozen values; writes nothing.
A daemon that stopped cleanly removed its row; one that died keeps it, with its old last beat, until a `mailbridge run`
(a live daemon, or `run --once`) forgets it after FORGET_AFTER_LEASES leases (decisions/leases.py), and its leases
expire after `[daemon] lease_seconds`. Until then `status` shows it as stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbridge.decisions.leases import is_live
from mailbridge.decisions.monitoring import DaemonFigures, FleetFigures, LeaseFigures
from mailbridge.store.reader import Reader, instant


@dataclass(frozen=True)
class DaemonStatus:
    instance: str  # random per start of `mailbridge run`
    host: str
    pid: int
    started_at: datetime | None
    last_beat_at: datetime | None
    mailboxes: tuple[str, ...]  # whose lease it holds (an expired lease is still shown until another takes it)
    state: str = "running"  # "stopped": its last beat is older than `[daemon] lease_seconds` (hung, or killed)


def gather_daemons(reader: Reader, lease_seconds: float, checked_at: datetime) -> tuple[DaemonStatus, ...]:
    """Every daemon row, oldest first, with the mailboxes whose lease it holds and whether it runs at `checked_at`
    (the real time, like `status --check`: beats are written with the hosts' real clocks)."""
    lease = timedelta(seconds=lease_seconds)
    held: dict[str, list[str]] = {}
    for row in reader.rows("SELECT mailbox, holder FROM mailboxlease WHERE holder IS NOT NULL ORDER BY mailbox"):
        held.setdefault(row["holder"], []).append(row["mailbox"])
    return tuple(
        DaemonStatus(
            row["instance"],
            row["host"],
            row["pid"],
            instant(row["started_at"]),
            instant(row["last_beat_at"]),
            tuple(held.get(row["instance"], ())),
            "running" if is_live(instant(row["last_beat_at"]), checked_at, lease) else "stopped",
        )
        for row in reader.rows(
            "SELECT instance, host, pid, started_at, last_beat_at FROM daemon ORDER BY started_at, instance"
        )
    )


def fleet_figures(
    reader: Reader, mailboxes: tuple[str, ...], lease_seconds: float, checked_at: datetime
) -> FleetFigures:
    """Every daemon row and mailbox lease, for the `status --check` rule on stale daemons and unheld mailboxes."""
    daemons = tuple(
        DaemonFigures(
            row["instance"], row["host"], row["pid"], instant(row["started_at"]), instant(row["last_beat_at"])
        )
        for row in reader.rows("SELECT instance, host, pid, started_at, last_beat_at FROM daemon ORDER BY started_at")
    )
    leases = tuple(
        LeaseFigures(row["mailbox"], row["holder"], instant(row["expires_at"]))
        for row in reader.rows("SELECT mailbox, holder, expires_at FROM mailboxlease ORDER BY mailbox")
    )
    return FleetFigures(daemons, leases, mailboxes, lease_seconds, checked_at)
