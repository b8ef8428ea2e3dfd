"""Exactly once, proven on the real daemon: `mailbridge run` is killed with SIGKILL in the middle of a
batch of 500 messages, restarted, and every message is stored once, flagged once and answered once.
"""

from __future__ import annotations

import email
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from tests.conftest import REPO, SUPPORT_USER, customer_mail, run_cli_process

MESSAGES = 500
KILL_AFTER_STORED = 120
STORE_TIMEOUT = 40.0


def stored_count(db_path) -> int:
    """Count stored messages from outside the daemon; 0 while its schema does not exist yet."""
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT count(*) FROM message").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def append_all(dovecot, folder: str, mails: list[bytes]) -> None:
    """APPEND every message over one IMAP connection."""
    with dovecot.client(SUPPORT_USER) as client:
        for raw in mails:
            client.append(folder, raw)


def kill_when_partly_stored(daemon: subprocess.Popen, db_path) -> int:
    """Poll the store and SIGKILL the daemon once some, but not all, messages are committed."""
    deadline = time.monotonic() + STORE_TIMEOUT
    while (count := stored_count(db_path)) < KILL_AFTER_STORED:
        assert daemon.poll() is None, f"daemon exited early with {daemon.returncode}"
        assert time.monotonic() < deadline, f"only {count} messages stored after {STORE_TIMEOUT}s"
        time.sleep(0.005)
    os.kill(daemon.pid, signal.SIGKILL)
    daemon.wait(timeout=10)
    return stored_count(db_path)


def test_sigkill_in_the_middle_of_a_batch_loses_and_doubles_nothing(config_file, dovecot, sink, mailbox, tmp_path):
    mails = [customer_mail(sender=f"customer{n}@example.org", subject=f"Order {n} is late") for n in range(MESSAGES)]
    message_ids = [email.message_from_bytes(raw)["Message-ID"] for raw in mails]
    assert len(set(message_ids)) == MESSAGES
    append_all(dovecot, mailbox, mails)
    config = config_file()
    db_path = tmp_path / "mailbridge.db"

    with (tmp_path / "daemon.log").open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mailbridge", "--config", str(config), "run"], cwd=REPO, stdout=log, stderr=log
        )
        try:
            stored_at_kill = kill_when_partly_stored(daemon, db_path)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
    assert 0 < stored_at_kill < MESSAGES, f"the kill must land mid-run, {stored_at_kill} were stored"

    for _ in range(2):
        result = run_cli_process("run", "--once", config=config)
        assert result.returncode == 0, result.stderr[-2000:]

    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT message_id FROM message WHERE direction = 'in'").fetchall()
    assert Counter(r[0] for r in rows) == Counter(message_ids)
    flags = dovecot.flags(SUPPORT_USER, mailbox)
    assert len(flags) == MESSAGES and all("\\Seen" in f for f in flags.values())
    answered = Counter(m.message["In-Reply-To"] for m in sink.messages)
    assert answered == Counter(message_ids), "exactly one receipt per message"
