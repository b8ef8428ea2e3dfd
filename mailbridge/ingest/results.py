"""What one poll of a mailbox did, as counts: a plain value with no imports, so `run --once` can print a cycle that
found nothing (runtime/idle_cycle.py) without loading the parser and the database code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PollResult:
    mailbox: str
    fetched: int
    stored: int
    duplicates: int
    failed: int
    vanished: int = 0  # expunged by another client between SEARCH and FETCH
