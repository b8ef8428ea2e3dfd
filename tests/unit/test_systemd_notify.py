"""The sd_notify protocol pieces: message format, socket address, WatchdogSec from the environment, the watchdog rule."""

from __future__ import annotations

import os
import socket

import pytest

from mailbridge.runtime.systemd import (
    Notifier,
    PollHeartbeat,
    Watchdog,
    notify_message,
    socket_address,
    watchdog_seconds,
)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ready_message_is_key_value_lines():
    assert notify_message(READY=1, STATUS="polling 2 mailboxes") == b"READY=1\nSTATUS=polling 2 mailboxes"


def test_watchdog_message():
    assert notify_message(WATCHDOG=1) == b"WATCHDOG=1"


def test_a_value_with_a_line_break_is_refused():
    with pytest.raises(ValueError):
        notify_message(STATUS="one\ntwo")


def test_abstract_socket_starts_with_a_nul_byte():
    assert socket_address("@/org/freedesktop/systemd1/notify") == "\0/org/freedesktop/systemd1/notify"


def test_path_socket_is_kept():
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


def test_watchdog_seconds_from_watchdog_usec():
    assert watchdog_seconds({"WATCHDOG_USEC": "120000000"}) == 120.0


def test_no_watchdog_without_usec_or_with_zero():
    assert watchdog_seconds({}) is None and watchdog_seconds({"WATCHDOG_USEC": "0"}) is None


def test_watchdog_meant_for_another_process_is_ignored():
    assert watchdog_seconds({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}) == 1.0


def test_notifier_without_socket_is_disabled_and_sends_nothing():
    notifier = Notifier.from_environment({})
    assert not notifier.is_enabled
    notifier.send(READY=1)  # no socket, no error


def test_notifier_sends_a_datagram_to_an_abstract_socket():
    name = f"mailbridge-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        server.settimeout(5)
        Notifier.from_environment({"NOTIFY_SOCKET": "@" + name}).send(READY=1)
        assert server.recv(4096) == b"READY=1"


def test_notifier_with_a_vanished_socket_logs_and_goes_on(tmp_path, caplog):
    Notifier(str(tmp_path / "gone.sock")).send(WATCHDOG=1)
    assert "cannot notify the service manager" in caplog.text


class Recorder(Notifier):
    def __init__(self):
        super().__init__("@unused")
        self.sent: list[dict] = []

    def send(self, **fields) -> None:
        self.sent.append(fields)


def test_watchdog_pings_while_every_loop_beats():
    ticks, notifier = Ticks(), Recorder()
    watchdog = Watchdog(notifier, 120, clock=ticks)
    watchdog.beat("support")
    watchdog.beat("sales")
    ticks.now += 100
    watchdog.beat("sales")
    assert watchdog.ping() and notifier.sent == [{"WATCHDOG": 1}]
    assert watchdog.interval == 60


def test_watchdog_stops_pinging_when_one_loop_hangs():
    ticks, notifier = Ticks(), Recorder()
    watchdog = Watchdog(notifier, 120, clock=ticks)
    watchdog.beat("support")
    watchdog.beat("sales")
    ticks.now += 120
    watchdog.beat("sales")
    assert watchdog.stalled() == ["support"] and not watchdog.ping() and notifier.sent == []


def test_a_finished_loop_is_forgotten():
    ticks, notifier = Ticks(), Recorder()
    watchdog = Watchdog(notifier, 10, clock=ticks)
    watchdog.beat("support")
    watchdog.forget("support")
    ticks.now += 60
    assert watchdog.ping()


def test_heartbeat_beats_the_loop_of_the_mailbox_whose_batch_was_stored():
    ticks = Ticks()
    watchdog = Watchdog(Recorder(), 120, clock=ticks)
    heartbeat = PollHeartbeat(watchdog, ["support", "support/x"])
    watchdog.beat("support")
    watchdog.beat("support/x")
    ticks.now += 100
    heartbeat.start("support/x/INBOX", 500)
    ticks.now += 100
    heartbeat.advance(100)
    assert watchdog.stalled() == ["support"]
    heartbeat.finish()
