"""Helpers of the fleet tests (test_fleet.py, test_fleet_faults.py): `mailbridge run` daemons as real processes on
one PostgreSQL database, several mailboxes (folders of the test Dovecot), and counts taken from outside them: rows in
the database, flags on the server, receipts at the SMTP sink.
"""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from mailbridge.store import db
from tests.conftest import REPO, SUPPORT_USER, customer_mail, mailbox_toml

LEASE = 6  # seconds; the daemons renew every third of it (a test without mail to store may use a shorter one)
BEAT = LEASE / 3


def fleet_toml(lease: float = LEASE) -> str:
    """The [daemon]/[schedule]/[ingest] part of the fleet tests' configuration."""
    return f"""
[daemon]
lease_seconds = {lease}

[schedule]
poll_interval_seconds = 1
outbox_interval_seconds = 1

[ingest]
parse_processes = 0
"""


FLEET = fleet_toml()


def other_mailbox(dovecot, name: str, folder: str) -> str:
    return mailbox_toml(dovecot, name, folder, extra="timeout_seconds = 5\n")


def fleet_setup(
    config_file, postgres, dovecot, mailbox: str, dbname: str, count: int, extra: str = "", fleet: str = FLEET
) -> tuple[Path, Engine, dict]:
    """A configuration with `count` mailboxes (name -> folder) on a fresh PostgreSQL database.

    `extra` is added after the mailboxes (more sections), `fleet` replaces the [daemon]/[schedule]/[ingest] part."""
    folders = {"support": mailbox} | {f"box{n}": f"{mailbox}x{n}" for n in range(2, count + 1)}
    boxes = ""
    for name, folder in folders.items():
        if name != "support":
            dovecot.create_folder(SUPPORT_USER, folder)
            boxes += other_mailbox(dovecot, name, folder)
    url = postgres.create_database(dbname)
    config = config_file(db_url=url, extra=boxes + fleet + extra)
    return config, db.make_engine(url), folders


@contextmanager
def daemons(config: Path, tmp_path: Path, count: int, first: int = 0) -> Iterator[list[subprocess.Popen]]:
    """Start `count` `mailbridge run` processes (logs daemonN.log from N=`first`); SIGKILL whatever still runs at the
    end (and wake a frozen one)."""
    started = []
    try:
        for n in range(first, first + count):
            log = (tmp_path / f"daemon{n}.log").open("wb")
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "mailbridge", "--config", str(config), "run"],
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
                process.wait(timeout=10)


def stop_cleanly(processes: list[subprocess.Popen]) -> list[int]:
    """SIGTERM each daemon still running and return every exit code."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    return [process.wait(timeout=30) for process in processes]


def held_by_pid(engine: Engine) -> dict[int, set[str]]:
    """The mailboxes each daemon holds an unexpired lease on, by the daemon's pid."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT d.pid, l.mailbox FROM mailboxlease l JOIN daemon d ON d.instance = l.holder "
                "WHERE l.expires_at > now()"
            )
        ).all()
    found: dict[int, set[str]] = {}
    for pid, mailbox in rows:
        found.setdefault(pid, set()).add(mailbox)
    return found


def stored(engine: Engine) -> Counter:
    """Message-IDs of stored incoming mail, counted."""
    with engine.connect() as connection:
        return Counter(r[0] for r in connection.execute(text("SELECT message_id FROM message WHERE direction = 'in'")))


def stored_in(engine: Engine, mailbox: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM message WHERE mailbox = :m"), {"m": mailbox}).scalar_one()


def stored_count(engine: Engine) -> int:
    """Stored incoming messages; -1 while the database does not answer."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM message WHERE direction = 'in'")).scalar_one()
    except Exception:  # noqa: BLE001 - asked while the database restarts
        return -1


def all_seen(dovecot, folder: str, count: int) -> bool:
    flags = dovecot.flags(SUPPORT_USER, folder)
    return len(flags) == count and all("\\Seen" in f for f in flags.values())


def append(dovecot, folder: str, tag: str, count: int, *, body: str | None = None) -> list[str]:
    """APPEND `count` mails from different senders, a hundred to a MULTIAPPEND (2,000 one by one take 15 s); return
    their Message-IDs."""
    options = {"body": body} if body is not None else {}
    raws = [customer_mail(sender=f"{tag}{n}@example.org", subject=f"{tag} order {n}", **options) for n in range(count)]
    with dovecot.client(SUPPORT_USER) as client:
        for start in range(0, count, 100):
            client.multiappend(folder, raws[start : start + 100])
    return [email.message_from_bytes(raw)["Message-ID"] for raw in raws]


def receipts(sink) -> Counter:
    return Counter(m.message["In-Reply-To"] for m in sink.messages)


def count_resends(sink, expected: Counter) -> int:
    """Assert that every message in `expected` got its receipt and nothing else got one, each once except for
    identical resends (the same Message-ID, Subject and recipients: the same outbox row sent again after a crash);
    return how many resends there were."""
    copies: dict[str, list] = {}
    for mail in list(sink.messages):
        message = mail.message
        if message["In-Reply-To"] is not None:
            copies.setdefault(message["In-Reply-To"], []).append((message["Message-ID"], message["Subject"], mail))
    assert set(copies) == set(expected), (
        f"receipts missing for {len(set(expected) - set(copies))}, unexpected for {len(set(copies) - set(expected))}"
    )
    resends = 0
    for sent in copies.values():
        assert len({(mid, subject, mail.rcpt_tos) for mid, subject, mail in sent}) == 1, f"two different mails: {sent}"
        resends += len(sent) - 1
    return resends


def receipts_arrived(sink, expected: Counter) -> bool:
    """Every expected message has at least one receipt at the sink."""
    return set(expected) <= set(receipts(sink))
