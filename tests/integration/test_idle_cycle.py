"""`run --once` with nothing to do takes the idle cycle (no ORM, runtime/idle_cycle.py); any work takes the full one.

Each `run --once` here is the real command in a fresh process, at a time given by MAILBRIDGE_NOW, against Dovecot and
the SMTP sink; the launcher reports on stderr whether SQLAlchemy was loaded, which tells which cycle ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailbridge.store.reader import instant, open_reader
from tests.conftest import IMAP_PASSWORD_ENV, REPO, SUPPORT_USER, customer_mail
from tests.integration.test_ingest import run_ingest

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday, in business hours
IDLE_OUTPUT = "support: fetched 0, stored 0, already stored 0, failed 0\noutbox: sent 0, failed 0\n"
LAUNCHER = """
import sys
from mailbridge.cli import main
sys.argv = ["mailbridge", *sys.argv[1:]]
try:
    main()
finally:
    print("orm loaded:", "sqlalchemy" in sys.modules, file=sys.stderr)
"""


def run_once(config: Path, at: datetime, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, bool]:
    """`mailbridge run --once ARGS` at `at`: exit code, stdout, and whether the ORM was loaded (the full cycle)."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, "--config", str(config), "run", "--once", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "MAILBRIDGE_NOW": at.isoformat(), **(env or {})},
    )
    assert "orm loaded:" in done.stderr, done.stderr
    return done.returncode, done.stdout, "orm loaded: True" in done.stderr


def health(url: str) -> dict:
    reader = open_reader(url)
    try:
        mailbox = reader.first("SELECT last_success_at, failing_since FROM mailboxhealth WHERE mailbox = 'support'")
        folder = reader.first("SELECT last_success_at, last_uid FROM mailboxstate WHERE mailbox = 'support'")
        tickets = reader.rows("SELECT number, status, sla_reported_at FROM ticket ORDER BY id")
    finally:
        reader.close()
    assert mailbox is not None and folder is not None
    return {
        "mailbox_success": instant(mailbox["last_success_at"]),
        "failing_since": instant(mailbox["failing_since"]),
        "folder_success": instant(folder["last_success_at"]),
        "last_uid": folder["last_uid"],
        "tickets": tickets,
    }


def test_an_idle_run_loads_no_orm_and_notes_the_poll_like_the_full_cycle(config_file, tmp_path):
    url = f"sqlite:///{tmp_path}/mailbridge.db"
    config = config_file(db_url=url)
    code, out, orm = run_once(config, START)  # the first poll of the folder: the full cycle records where it is
    assert (code, out, orm) == (0, IDLE_OUTPUT, True)
    assert health(url)["mailbox_success"] == START
    later = START + timedelta(minutes=5)
    code, out, orm = run_once(config, later)
    assert (code, out, orm) == (0, IDLE_OUTPUT, False)
    after = health(url)
    assert (after["mailbox_success"], after["folder_success"], after["failing_since"]) == (later, later, None)
    code, out, orm = run_once(config, later + timedelta(minutes=5), "--json")
    report = json.loads(out)
    assert code == 0 and not orm
    assert report["mailboxes"][0] == {
        "mailbox": "support",
        "ok": True,
        "fetched": 0,
        "stored": 0,
        "duplicates": 0,
        "failed": 0,
        "vanished": 0,
        "error": None,
        "skipped": None,
    }
    assert report["outbox"] == {"sent": 0, "failed": 0} and report["errors"] == []


def test_new_mail_takes_the_full_cycle(config_file, dovecot, mailbox, sink, tmp_path):
    url = f"sqlite:///{tmp_path}/mailbridge.db"
    config = config_file(db_url=url)
    run_once(config, START)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Parcel missing"))
    code, out, orm = run_once(config, START + timedelta(minutes=1))
    assert code == 0 and orm and "fetched 1, stored 1" in out and "sent 1" in out
    assert len(sink.messages) == 1 and health(url)["last_uid"] == 1
    assert run_once(config, START + timedelta(minutes=2))[2] is False  # stored and marked: idle again


def test_mail_due_in_the_outbox_takes_the_full_cycle(config_file, sink, tmp_path):
    url = f"sqlite:///{tmp_path}/mailbridge.db"
    config = config_file(db_url=url)
    run_once(config, START)
    stored = run_ingest(config, stdin=customer_mail(subject="Handed over by the MTA"))  # ingest queues, never sends
    assert stored.returncode == 0, stored.stderr
    code, out, orm = run_once(config, datetime.now(UTC) + timedelta(minutes=1))
    assert code == 0 and orm and "outbox: sent 1" in out and len(sink.messages) == 1


def test_a_ticket_for_the_timers_takes_the_full_cycle(config_file, dovecot, mailbox, tmp_path):
    url = f"sqlite:///{tmp_path}/mailbridge.db"
    config = config_file(db_url=url, extra="[sla]\nfirst_response_hours = 4\nwarn_before_hours = 1\n")
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Nobody answers"))
    run_once(config, START)
    [ticket] = health(url)["tickets"]
    assert ticket["sla_reported_at"] is None
    # An hour in: not near its first-response time, so nothing is due.
    assert run_once(config, START + timedelta(hours=1))[2] is False
    # Past the warning time: the full cycle runs the SLA timer, which reports the ticket once.
    code, _, orm = run_once(config, START + timedelta(hours=3, minutes=30))
    assert code == 0 and orm
    [ticket] = health(url)["tickets"]
    assert instant(ticket["sla_reported_at"]) == START + timedelta(hours=3, minutes=30)
    assert run_once(config, START + timedelta(hours=3, minutes=40))[2] is False  # reported: idle again


def test_a_mailbox_that_was_failing_takes_the_full_cycle_which_records_the_recovery(config_file, tmp_path):
    url = f"sqlite:///{tmp_path}/mailbridge.db"
    config = config_file(db_url=url)
    run_once(config, START)
    code, _, _ = run_once(config, START + timedelta(minutes=1), env={IMAP_PASSWORD_ENV: "wrong"})
    assert code == 1 and health(url)["failing_since"] == START + timedelta(minutes=1)
    code, _, orm = run_once(config, START + timedelta(minutes=2))
    assert code == 0 and orm and health(url)["failing_since"] is None


def test_an_idle_run_on_postgresql(config_file, postgres):
    url = postgres.create_database("idlecycle")
    config = config_file(db_url=url)
    run_once(config, START)
    later = START + timedelta(minutes=5)
    code, out, orm = run_once(config, later)
    assert (code, out, orm) == (0, IDLE_OUTPUT, False)
    assert health(url)["mailbox_success"] == later
