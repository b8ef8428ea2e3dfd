"""The sd_notify protocol for `Type=notify` units: READY=1 once the daemon is up, WATCHDOG=1 while its loops live.

A datagram of `KEY=VALUE` lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a leading "@" names an abstract
socket); without that variable every call does nothing. `runtime.daemon` builds one `Notifier` and a `Watchdog`
that pings only while every mailbox loop has shown life within WatchdogSec (sd_notify(3), sd_watchdog_enabled(3)).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def notify_message(**fields: str | int) -> bytes:
    """Format one notification: `notify_message(READY=1, STATUS="up")` -> b"READY=1\\nSTATUS=up"."""
    lines = []
    for key, value in fields.items():
        text = str(value)
        if "\n" in text or "=" in key or not key:
            raise ValueError(f"sd_notify field {key!r}: one line and a name without '=' expected")
        lines.append(f"{key}={text}")
    return "\n".join(lines).encode("utf-8")


def socket_address(value: str) -> str:
    """The address for connect(): "@name" is the abstract socket "\\0name", anything else a path."""
    return "\0" + value[1:] if value.startswith("@") else value


def watchdog_seconds(environ: Mapping[str, str]) -> float | None:
    """WatchdogSec of this service from $WATCHDOG_USEC (for this process, per $WATCHDOG_PID), else None."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000


class Notifier:
    """Sends notifications to the service manager; does nothing when it did not ask for them."""

    def __init__(self, address: str | None):
        self.address = socket_address(address) if address else None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        return cls(environ.get("NOTIFY_SOCKET") or None)

    @property
    def is_enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str | int) -> None:
        """Send one notification; a manager that went away is logged, never raised."""
        if self.address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(notify_message(**fields))
        except OSError as exc:
            log.warning("cannot notify the service manager socket=%s error=%s", self.address.lstrip("\0"), exc)


class Watchdog:
    """Pings WATCHDOG=1 only while every mailbox loop has beaten within `timeout` seconds (monotonic time).

    A loop beats when a poll starts and ends, after every stored batch, and while it waits; a loop that hangs in a
    poll stops beating, the pings stop, and systemd restarts the service after WatchdogSec.
    """

    def __init__(self, notifier: Notifier, timeout: float, clock=time.monotonic):
        self.notifier, self.timeout, self._clock = notifier, timeout, clock
        self._beats: dict[str, float] = {}

    @property
    def interval(self) -> float:
        """How often to ping: half of WatchdogSec, as sd_watchdog_enabled(3) advises."""
        return self.timeout / 2

    def beat(self, loop: str) -> None:
        self._beats[loop] = self._clock()

    def forget(self, loop: str) -> None:
        self._beats.pop(loop, None)

    def stalled(self) -> list[str]:
        """The loops that have not beaten within the timeout."""
        now = self._clock()
        return sorted(name for name, at in self._beats.items() if now - at >= self.timeout)

    def ping(self) -> bool:
        """Send WATCHDOG=1 when no loop is stalled; return whether it was sent."""
        stalled = self.stalled()
        if stalled:
            log.error("watchdog: not pinging, these loops show no life loops=%s", ",".join(stalled))
            return False
        self.notifier.send(WATCHDOG=1)
        return True


class PollHeartbeat:
    """Implements `ProgressReporter` for the daemon: each stored batch of a mailbox's poll beats its loop."""

    def __init__(self, watchdog: Watchdog, mailboxes: list[str]):
        self.watchdog = watchdog
        # Longest first: "support/x" must not be taken for the mailbox "support" when "support/x" exists.
        self._names = sorted(mailboxes, key=len, reverse=True)
        self._current: dict[int, str] = {}  # the polling thread -> its mailbox

    def start(self, label: str, total: int) -> None:
        name = next((n for n in self._names if label.startswith(f"{n}/")), None)
        if name is not None:
            self._current[threading.get_ident()] = name
            self.watchdog.beat(name)

    def advance(self, count: int) -> None:
        name = self._current.get(threading.get_ident())
        if name is not None:
            self.watchdog.beat(name)

    def finish(self) -> None:
        self._current.pop(threading.get_ident(), None)
