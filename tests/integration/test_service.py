"""`mailbridge run` as a service: JSON log lines, the health file, SIGHUP reload (good and bad file), SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from tests.conftest import REPO, SUPPORT_USER, customer_mail

WAIT_SECONDS = 30


def wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while not (found := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return found


def log_entries(path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line must be JSON


def entry(path, text: str, count: int = 1):
    matches = [e for e in log_entries(path) if text in e["message"]]
    return matches if len(matches) >= count else None


def test_daemon_logs_json_reloads_on_sighup_and_stops_cleanly_on_sigterm(config_file, dovecot, sink, mailbox, tmp_path):
    config = config_file(extra="[schedule]\npoll_interval_seconds = 1\noutbox_interval_seconds = 0.5\n")
    health, log_path = tmp_path / "health.json", tmp_path / "daemon.log"
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="first"))
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mailbridge",
                "--config",
                str(config),
                "run",
                "--log-format",
                "json",
                "--health-file",
                str(health),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        [stored] = wait_for(lambda: entry(log_path, "stored mailbox="), "the first message")
        assert stored["mailbox"] == "support" and stored["uid"] >= 1 and stored["ticket"] and stored["message_id"]
        assert wait_for(lambda: entry(log_path, "sent outbox_id="), "the receipt")[0]["outbox_id"] >= 1
        report = json.loads(wait_for(lambda: health.exists() and health.read_text(), "the health file"))
        assert report["mailboxes"][0]["name"] == "support" and "outbox_depth" in report

        config_file(extra="[schedule]\npoll_interval_seconds = 2\n")
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: entry(log_path, "configuration reloaded"), "the reload")
        config.write_text(config.read_text().replace('security = "ssl"', 'security = "tls"'))
        daemon.send_signal(signal.SIGHUP)
        [refused] = wait_for(lambda: entry(log_path, "reload refused"), "the refused reload")
        assert refused["level"] == "error" and "[mailboxes.0] security" in refused["message"]
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="second", sender="bob@example.org"))
        wait_for(lambda: entry(log_path, "stored mailbox=", 2), "the second message on the kept configuration")

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=WAIT_SECONDS) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    entries = log_entries(log_path)
    assert entries[-1]["message"] == "daemon stopped cleanly"
    assert not [e for e in entries if "exception" in e]
