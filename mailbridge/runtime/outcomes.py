"""What one full cycle (`run --once`) did: plain values with light imports, shared by the full cycle
(runtime/jobs.py) and the idle one (runtime/idle_cycle.py)."""

from __future__ import annotations

from dataclasses import dataclass

from mailbridge.ingest.results import PollResult


@dataclass(frozen=True)
class Skipped:
    """A mailbox `run --once` did not poll, and why ("held by daemon HOST:PID")."""

    mailbox: str
    reason: str


@dataclass(frozen=True)
class CycleReport:
    polls: tuple[PollResult, ...]
    errors: tuple[str, ...]
    sent: int
    failed: int
    skipped: tuple[Skipped, ...] = ()  # beside daemons on PostgreSQL: the mailboxes another process holds
