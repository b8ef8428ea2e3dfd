"""The only module that asks the time.

`system_clock()` gives the clock the daemon and the CLI use: the real time, or a fixed one when
MAILBRIDGE_NOW (ISO 8601) is set, so operators and tests can replay a scenario.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, overload

from mailbridge.base.errors import ConfigError


class Clock(Protocol):
    """Tells the current time, always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """Implements `Clock` with the machine's time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """Implements `Clock` with a time that moves only when told to."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward by a timedelta given as keywords (days=8, hours=2)."""
        self.current = self.current + timedelta(**delta)
        return self.current


def parse_instant(text: str) -> datetime:
    """Read an ISO 8601 instant; a naive one is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def system_clock() -> Clock:
    """Return the real clock, or a fixed one when MAILBRIDGE_NOW is set."""
    override = os.environ.get("MAILBRIDGE_NOW")
    if not override:
        return SystemClock()
    try:
        return FixedClock(parse_instant(override))
    except ValueError:
        raise ConfigError(
            f"MAILBRIDGE_NOW: expected an ISO 8601 time like 2026-11-24T09:00:00Z, got {override!r}"
        ) from None


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: None) -> None: ...
@overload
def utc(value: datetime | None) -> datetime | None: ...


def utc(value: datetime | None) -> datetime | None:
    """Return `value` as aware UTC (SQLite hands back naive datetimes)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
