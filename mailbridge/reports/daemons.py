"""Read-only query for `mailbridge status`: the daemons running on this database and the mailboxes each holds.

Takes a `store.reader.Reader` (plain SQL, like `reports.status`), returns frozen DaemonStatus values; writes nothing.
A daemon that stopped cleanly removed its row; one that died keeps it, with its old last beat, until the live
daemons forget it (store/fleet.py), and its leases expire after `[daemon] lease_seconds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailbridge.store.reader import Reader, instant


@dataclass(frozen=True)
class DaemonStatus:
    instance: str  # random per start of `mailbridge run`
    host: str
    pid: int
    started_at: datetime | None
    last_beat_at: datetime | None
    mailboxes: tuple[str, ...]  # whose lease it holds (an expired lease is still shown until another takes it)


def gather_daemons(reader: Reader) -> tuple[DaemonStatus, ...]:
    """Every daemon row, oldest first, with the mailboxes whose lease it holds."""
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
        )
        for row in reader.rows(
            "SELECT instance, host, pid, started_at, last_beat_at FROM daemon ORDER BY started_at, instance"
        )
    )
