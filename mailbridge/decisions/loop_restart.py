"""Decision: when a daemon loop that ended unexpectedly starts again. Pure.

`runtime.daemon`'s supervisor asks `plan_restart` each time a loop (a mailbox's poll or IDLE loop, the
delivery loop, the timers) raised or returned without a stop, and waits the delay it gives before running
the loop again. The delay grows like a failing mailbox's (`mailbox_health.retry_delay`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mailbridge.decisions.mailbox_health import retry_delay

# A loop that ran this long before it ended is taken to have worked: its count of ends in a row starts afresh.
STEADY_RUN = timedelta(minutes=10)


@dataclass(frozen=True)
class Restart:
    in_a_row: int  # unexpected ends in a row, this one included
    delay: timedelta  # the wait before the loop runs again


def plan_restart(in_a_row_before: int, ran_for: timedelta, jitter: float) -> Restart:
    """Count this end of a loop that ran `ran_for` and back off 15 s, 30 s, 1 min ... up to 30 min (`jitter` 0-1)."""
    in_a_row = 1 if ran_for >= STEADY_RUN else max(in_a_row_before, 0) + 1
    return Restart(in_a_row, retry_delay(in_a_row, jitter))
