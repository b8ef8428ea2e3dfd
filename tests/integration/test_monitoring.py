"""Monitoring against the real servers: `status --check` exit codes, the Prometheus metrics file after a cycle, and
the daemon's sd_notify READY=1 / WATCHDOG=1 received on a real AF_UNIX datagram socket.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import IMAP_PASSWORD_ENV, REPO, SUPPORT_USER, customer_mail, run_cli
from tests.servers.util import free_port, wait_until


def check(config: Path, clock) -> tuple[int, str]:
    result = run_cli("status", "--check", config=config, clock=clock)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.returncode, lines[0]


def run_once(config: Path, clock) -> int:
    return run_cli("run", "--once", config=config, clock=clock).returncode


# status --check


def test_check_of_a_healthy_installation_is_ok(config_file, dovecot, sink, mailbox, clock):
    config = config_file()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    assert run_once(config, clock) == 0
    code, line = check(config, clock)
    assert code == 0 and line.startswith("MAILBRIDGE OK - 1 mailbox syncing, 0 unsent, 0 held")
    assert "sync_age_support=0s;900;3600;0" in line


def test_check_of_a_mailbox_with_a_wrong_password_is_warning_then_critical(
    config_file, dovecot, sink, mailbox, clock, monkeypatch
):
    config = config_file()
    monkeypatch.setenv(IMAP_PASSWORD_ENV, "wrong")
    assert run_once(config, clock) == 1
    code, line = check(config, clock)
    assert code == 1 and line.startswith("MAILBRIDGE WARNING - mailbox support failing for 0s, never synced:")
    assert "login refused" in line
    clock.advance(hours=2)
    code, line = check(config, clock)
    assert code == 2 and line.startswith("MAILBRIDGE CRITICAL - mailbox support failing for 2h")


def test_check_of_a_mailbox_whose_server_is_gone_is_warning(config_file, dovecot, sink, mailbox, clock):
    config = config_file()
    assert run_once(config, clock) == 0
    clock.advance(minutes=3)
    broken = config_file(imap_port=free_port())  # nothing listens there: connection refused
    assert run_once(broken, clock) == 1
    code, line = check(broken, clock)
    assert code == 1 and "mailbox support failing for 0s, last synced 3m ago" in line and "refused" in line


def test_check_with_held_mail_is_warning(config_file, dovecot, sink, mailbox, clock):
    config = config_file()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    sink.fail_next("RCPT", 550)
    assert run_once(config, clock) == 0
    code, line = check(config, clock)
    assert code == 1 and line.startswith("MAILBRIDGE WARNING - 1 mail held | ")
    assert " held=1;0;;0 " in line


def test_check_without_a_configuration_is_unknown(tmp_path, clock):
    code, line = check(tmp_path / "missing.toml", clock)
    assert code == 3 and line.startswith("MAILBRIDGE UNKNOWN - ") and "configuration file not found" in line


def test_check_with_a_database_that_cannot_be_read_is_unknown(config_file, tmp_path, clock):
    config = config_file(schema=False)
    (tmp_path / "mailbridge.db").write_bytes(b"this is not an SQLite database" * 100)
    code, line = check(config, clock)
    assert code == 3 and line.startswith("MAILBRIDGE UNKNOWN - ") and "not a database" in line, line


# [metrics] textfile after `run --once`


def metrics_of(path: Path) -> dict[tuple[str, tuple], float]:
    """Parse the Prometheus text file into {(sample name, sorted labels): value}."""
    samples = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_file_after_run_once_parses_and_counts_the_cycle(config_file, dovecot, sink, mailbox, clock, tmp_path):
    textfile = tmp_path / "mailbridge.prom"
    config = config_file(extra=f'[metrics]\ntextfile = "{textfile}"\n')
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="bob@example.org", subject="Invoice 77"))
    assert run_once(config, clock) == 0
    assert textfile.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.glob("mailbridge.prom*")] == ["mailbridge.prom"]  # no temporary file left
    metrics = metrics_of(textfile)
    support = (("mailbox", "support"),)
    assert metrics[("mailbridge_mailbox_messages_total", (*support, ("outcome", "stored")))] == 2
    assert metrics[("mailbridge_mailbox_messages_total", (*support, ("outcome", "failed")))] == 0
    assert metrics[("mailbridge_mailbox_polls_total", (*support, ("result", "ok")))] == 1
    assert metrics[("mailbridge_mailbox_last_poll_messages", (*support, ("outcome", "fetched")))] == 2
    assert metrics[("mailbridge_mailbox_last_sync_age_seconds", support)] == 0
    assert metrics[("mailbridge_mailbox_failing", support)] == 0
    assert metrics[("mailbridge_outbox_mails", (("status", "sent"),))] == 2  # the two receipts
    assert metrics[("mailbridge_outbox_mails", (("status", "held"),))] == 0
    assert metrics[("mailbridge_tickets", (("status", "new"),))] == 2
    assert metrics[("mailbridge_messages_quarantined", ())] == 0
    assert metrics[("mailbridge_tickets_sla_breached", ())] == 0
    assert metrics[("mailbridge_check_state", ())] == 0
    assert metrics[("mailbridge_metrics_written_timestamp_seconds", ())] == clock.now().timestamp()
    assert len(sink.messages) == 2


def test_metrics_file_shows_a_failing_mailbox(config_file, dovecot, sink, mailbox, clock, tmp_path, monkeypatch):
    textfile = tmp_path / "mailbridge.prom"
    config = config_file(extra=f'[metrics]\ntextfile = "{textfile}"\n')
    monkeypatch.setenv(IMAP_PASSWORD_ENV, "wrong")
    assert run_once(config, clock) == 1
    metrics = metrics_of(textfile)
    support = (("mailbox", "support"),)
    assert metrics[("mailbridge_mailbox_failing", support)] == 1
    assert metrics[("mailbridge_mailbox_polls_total", (*support, ("result", "error")))] == 1
    assert metrics[("mailbridge_mailbox_last_sync_age_seconds", support)] == float("inf")
    assert metrics[("mailbridge_check_state", ())] == 1


# systemd: READY=1 and WATCHDOG=1 from the real daemon


@pytest.fixture
def notify_socket():
    """A bound AF_UNIX datagram socket, as systemd's $NOTIFY_SOCKET (a short path: sun_path holds 108 bytes)."""
    directory = tempfile.mkdtemp(prefix="mbn-", dir="/tmp")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.5)
    try:
        yield path, sock
    finally:
        sock.close()
        os.unlink(path)
        os.rmdir(directory)


def receive_until(sock: socket.socket, wanted: bytes, timeout: float, got: list[bytes]) -> bool:
    """Collect datagrams into `got` until one holds the line `wanted`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got.append(sock.recv(4096))
        except TimeoutError:
            continue
        if wanted in got[-1].split(b"\n"):
            return True
    return False


def test_daemon_sends_ready_then_watchdog_pings_then_stopping(
    config_file, dovecot, sink, mailbox, tmp_path, notify_socket
):
    path, sock = notify_socket
    textfile = tmp_path / "mailbridge.prom"
    config = config_file(extra=f'[metrics]\ntextfile = "{textfile}"\n')
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}  # WatchdogSec=2: a ping every second
    got: list[bytes] = []
    with (tmp_path / "daemon.log").open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mailbridge", "--config", str(config), "run"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            assert receive_until(sock, b"READY=1", 30, got), got
            assert b"STATUS=polling 1 mailboxes" in got[-1]
            assert receive_until(sock, b"WATCHDOG=1", 10, got), got
            assert receive_until(sock, b"WATCHDOG=1", 10, got), "the pings go on"
            # The metrics file is rewritten after each of the daemon's polls; the receipt goes out on the outbox job.
            assert wait_until(textfile.exists, 30) and wait_until(lambda: len(sink.messages) == 1, 30)
            daemon.send_signal(signal.SIGTERM)
            assert receive_until(sock, b"STOPPING=1", 30, got), got
            assert daemon.wait(timeout=60) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
    assert "mailbridge_mailbox_polls_total" in textfile.read_text(encoding="utf-8")
