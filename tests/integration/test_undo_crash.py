"""The undo window across a crash, on the real daemon: `mailbridge run` is killed with SIGKILL while an agent's
answer waits out `[agents] send_delay_seconds`; after the restart the answer goes out once, not before its time,
with the close it carried and one survey; the agent's confirmation is not sent again.
"""

from __future__ import annotations

import email
import os
import signal
import sqlite3
import subprocess
import sys
import time
from email import policy

import pytest

from tests.conftest import REPO, SUPPORT_USER, customer_mail, run_cli_process
from tests.integration.test_agents import CUSTOMER, MARIA, agent_mail, reply_to_of
from tests.servers.util import wait_until

WINDOW = 4  # seconds an answer waits
ANSWER = "Your parcel left our warehouse today, tracking number TR-4412."
DAEMON_TOML = f"""
[agents]
send_delay_seconds = {WINDOW}

[schedule]
poll_interval_seconds = 1
outbox_interval_seconds = 1
"""


def mails(sink) -> list:
    return [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages]


def to(sink, address: str) -> list:
    return [m for m in mails(sink) if any(a.addr_spec == address for a in m["To"].addresses)]


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def row(db_path, query: str) -> tuple | None:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute(query).fetchone()
    except sqlite3.OperationalError:
        return None


def start(config, log_path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mailbridge", "--config", str(config), "run"],
        cwd=REPO,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.parametrize("down_for", [0.0, WINDOW + 2.0], ids=["restarted-within-the-window", "down-past-the-window"])
def test_daemon_killed_while_an_answer_waits_sends_it_once_after_its_window(
    config_file, dovecot, sink, mailbox, tmp_path, down_for
):
    config = config_file(extra=DAEMON_TOML)
    db_path = tmp_path / "mailbridge.db"
    added = run_cli_process(
        "agents", "add", MARIA, "--name", "Maria Rossi", "--contact", "Customer service", config=config
    )
    assert added.returncode == 0, added.stderr
    log = tmp_path / "daemon.log"
    daemon = start(config, log)
    try:
        dovecot.append(SUPPORT_USER, mailbox, customer_mail())
        assert wait_until(lambda: [m for m in to(sink, MARIA) if m["Reply-To"] is not None], timeout=60)
        [notification] = [m for m in to(sink, MARIA) if m["Reply-To"] is not None]
        raw = agent_mail(
            sender=MARIA, to_address=reply_to_of(notification), body=f"{ANSWER}\n\n#close", notification=notification
        )
        dovecot.append(SUPPORT_USER, mailbox, raw)
        # The answer is waiting in its window: kill the daemon at once.
        assert wait_until(
            lambda: row(db_path, "SELECT state FROM heldanswer") == ("waiting",), timeout=60, interval=0.05
        )
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=10)
        killed_at = time.monotonic()
        assert not [m for m in to(sink, CUSTOMER) if ANSWER in text_of(m)]
        time.sleep(down_for)

        daemon = start(config, log)
        assert wait_until(lambda: [m for m in to(sink, CUSTOMER) if ANSWER in text_of(m)], timeout=60)
        sent_after = time.monotonic() - killed_at
        assert wait_until(lambda: row(db_path, "SELECT status FROM ticket") == ("closed",), timeout=30)
        assert wait_until(lambda: [m for m in to(sink, CUSTOMER) if "rate" in text_of(m).lower()], timeout=30)
        time.sleep(3)  # a few more rounds of the restarted daemon: nothing again
        answers = [m for m in to(sink, CUSTOMER) if ANSWER in text_of(m)]
        surveys = [m for m in to(sink, CUSTOMER) if "rate" in text_of(m).lower()]
        confirmations = [m for m in to(sink, MARIA) if "reply #cancel to take it back" in text_of(m)]
        assert (len(answers), len(surveys)) == (1, 1)
        # The kill can land while Maria's confirmation is in its SMTP conversation: the restarted daemon then sends
        # the same mail again (same bytes and Message-ID: delivery is at least once), never a second confirmation.
        assert len({str(m["Message-ID"]) for m in confirmations}) == 1 and len(confirmations) <= 2
        assert len({m.as_bytes() for m in confirmations}) == 1
        assert sent_after >= min(WINDOW - 1.0, down_for)  # not before its time (it was queued just before the kill)
        assert row(db_path, "SELECT state FROM heldanswer") == ("released",)
        assert row(db_path, "SELECT count(*) FROM outboxmail WHERE status <> 'sent'") == (0,)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
