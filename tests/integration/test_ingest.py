"""`mailbridge ingest`: mail from an MTA on stdin and from .eml files, Maildirs and mbox files, run as the real command."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, create_engine, select

from mailbridge.store.models import Contact, IntakeFailure, Message, OutboxMail, Ticket
from tests.conftest import REPO, customer_mail
from tests.servers.util import free_port

BROKEN_MIME = (
    b"From: Petr Novak <petr@example.cz>\r\nTo: support@shop.example\r\nSubject: broken\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XYZ"\r\n\r\n--XYZ\r\n'
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n--XY"
)


def run_ingest(config: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    """Run `mailbridge ingest` in a subprocess, feeding stdin as bytes like an MTA pipe does."""
    command = [sys.executable, "-m", "mailbridge", "--config", str(config), "ingest", *args]
    return subprocess.run(command, input=stdin, capture_output=True, env=dict(os.environ), cwd=REPO, timeout=120)


def stored(tmp_path: Path) -> list[Message]:
    engine = create_engine(f"sqlite:///{tmp_path}/mailbridge.db")
    with Session(engine) as session:
        return list(session.exec(select(Message).order_by(Message.id)))


def count(tmp_path: Path, model) -> int:
    engine = create_engine(f"sqlite:///{tmp_path}/mailbridge.db")
    with Session(engine) as session:
        return len(session.exec(select(model)).all())


def test_mail_on_stdin_becomes_a_ticket_and_exits_0(config_file, tmp_path):
    raw = customer_mail(subject="Piped in by Postfix")
    result = run_ingest(config_file(), stdin=raw)
    assert result.returncode == 0, result.stderr
    [message] = stored(tmp_path)
    assert message.raw == raw and message.mailbox == "ingest" and message.folder == "stdin"
    assert count(tmp_path, Ticket) == 1 and count(tmp_path, OutboxMail) == 1
    assert b"ticket [#" in result.stdout


def test_same_mail_on_stdin_twice_is_stored_once_and_exits_0(config_file, tmp_path):
    raw = customer_mail()
    assert run_ingest(config_file(), stdin=raw).returncode == 0
    again = run_ingest(config_file(), stdin=raw)
    assert again.returncode == 0 and b"already stored" in again.stdout
    assert len(stored(tmp_path)) == 1 and count(tmp_path, OutboxMail) == 1


def test_malformed_mail_on_stdin_is_stored_flagged_and_exits_0(config_file, tmp_path):
    result = run_ingest(config_file(), stdin=BROKEN_MIME)
    assert result.returncode == 0, result.stderr
    [message] = stored(tmp_path)
    assert message.raw == BROKEN_MIME and message.is_malformed and message.ticket_id is not None
    assert b"flagged" in result.stdout


def test_unavailable_database_exits_75_with_one_line(config_file):
    closed_port = free_port()
    result = run_ingest(
        config_file(db_url=f"postgresql+psycopg://mailbridge@127.0.0.1:{closed_port}/mailbridge", schema=False),
        stdin=customer_mail(),
    )
    assert result.returncode == 75
    [line] = result.stderr.decode().strip().splitlines()
    assert line.startswith("mailbridge: error: [database] url: cannot open") and "retry" in line


def test_empty_stdin_exits_65(config_file):
    result = run_ingest(config_file(), stdin=b"")
    assert result.returncode == 65 and b"no message on stdin" in result.stderr


def test_contact_option_files_the_ticket_under_that_contact(config_file, tmp_path):
    assert run_ingest(config_file(), "--contact", "Sales", stdin=customer_mail()).returncode == 0
    engine = create_engine(f"sqlite:///{tmp_path}/mailbridge.db")
    with Session(engine) as session:
        [ticket] = session.exec(select(Ticket))
        assert session.get(Contact, ticket.contact_id).name == "Sales"


def test_unknown_mailbox_option_is_a_temporary_failure(config_file, tmp_path):
    result = run_ingest(config_file(), "--mailbox", "nope", stdin=customer_mail())
    assert result.returncode == 75 and b"--mailbox 'nope'" in result.stderr


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 64 kB tmpfs for the data directory, unmounted after the test; skipped where mounting is not permitted."""
    where = tmp_path / "data"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs for the full-disk test (needs root): {mounted.stderr.decode().strip()}"
        )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_full_raw_mail_disk_exits_75_counts_nothing_and_stores_once_there_is_room(config_file, tmp_path, small_disk):
    config = config_file(extra=f'[ingest]\ndata_dir = "{small_disk}"\nraw_file_threshold_bytes = 10000\n')
    raw = customer_mail(subject="A long complaint", body="Every detail of my order, again and again.\n" * 3000)
    # More tries than the failures after which mail that breaks intake is quarantined: none of them counts.
    for _ in range(4):
        result = run_ingest(config, stdin=raw)
        assert result.returncode == 75
        assert result.stderr.decode().strip().splitlines() == [
            "mailbridge: error: no room to store raw mail (No space left on device); the MTA will retry; "
            "nothing counted toward quarantine"
        ]
    # A PATH import counts it as failed (exit 1) and logs why, with nothing counted either.
    eml = tmp_path / "long.eml"
    eml.write_bytes(raw)
    imported = run_ingest(config, str(eml))
    assert imported.returncode == 1
    assert imported.stdout.decode().splitlines()[0] == "stored 0, duplicate 0, flagged 0, not stored 0, failed 1"
    [refused] = [line for line in imported.stderr.decode().splitlines() if "not stored, the disk refused it" in line]
    assert refused.endswith("error=[Errno 28] No space left on device")
    assert stored(tmp_path) == [] and count(tmp_path, IntakeFailure) == 0
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
    again = run_ingest(config, stdin=raw)
    assert again.returncode == 0, again.stderr
    [message] = stored(tmp_path)
    assert message.raw_path is not None and Path(message.raw_path).read_bytes() == raw
    assert count(tmp_path, Ticket) == 1 and count(tmp_path, IntakeFailure) == 0


def test_maildir_and_mbox_are_imported_and_a_second_run_finds_only_duplicates(config_file, tmp_path):
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for n in range(3):
        maildir.add(customer_mail(sender=f"m{n}@example.org", subject=f"maildir {n}"))
    maildir.add(BROKEN_MIME)
    mbox = mailbox.mbox(tmp_path / "archive.mbox", create=True)
    for n in range(4):
        mbox.add(customer_mail(sender=f"b{n}@example.org", subject=f"mbox {n}").replace(b"\r\n", b"\n"))
    mbox.flush()
    eml = tmp_path / "one.eml"
    eml.write_bytes(customer_mail(sender="e@example.org", subject="eml"))
    paths = [str(tmp_path / "Maildir"), str(tmp_path / "archive.mbox"), str(eml)]

    first = run_ingest(config_file(), *paths)
    assert first.returncode == 0, first.stderr
    assert first.stdout.decode().splitlines() == [
        "stored 9, duplicate 0, flagged 1, not stored 0, failed 0",
        "tickets: opened 9, threaded 0 (answers 0); imported tickets now: new 9",
    ]
    second = run_ingest(config_file(), *paths)
    assert second.stdout.decode().splitlines()[0] == "stored 0, duplicate 9, flagged 0, not stored 0, failed 0"
    messages = stored(tmp_path)
    assert sorted(m.folder for m in messages) == ["eml"] + ["maildir"] * 4 + ["mbox"] * 4
    assert count(tmp_path, Ticket) == 9
    # A PATH import is usually an archive: no receipts unless --receipts is given.
    assert count(tmp_path, OutboxMail) == 0


def test_path_that_is_no_mail_store_is_one_error_line(config_file, tmp_path):
    result = run_ingest(config_file(), str(tmp_path / "missing"))
    assert result.returncode == 1
    assert result.stderr.decode().strip().splitlines()[-1].endswith("missing: no such file or directory")
