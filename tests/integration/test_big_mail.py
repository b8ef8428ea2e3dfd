"""Issue 16, memory: mail over max_message_bytes is recorded once from its header and never downloaded, polls
after it do not fetch it again, and the poller's memory does not grow with it.

Dovecot's logout line counts what each session fetched (hdr_count, body_count, body_bytes): that is how these
tests see what went over the wire.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailbridge.reports.status import gather_status
from mailbridge.store.models import MailboxState, Message
from mailbridge.store.reader import reader_of
from tests.conftest import REPO, SUPPORT_USER, customer_mail, run_cli, run_once
from tests.servers.util import wait_until
from tests.unit.test_parse_limits import many_parts

LIMIT = 1_000_000
_FETCHED = re.compile(rb"Logged out .*hdr_count=(\d+) hdr_bytes=\d+ body_count=(\d+) body_bytes=(\d+)")


def big_mail(size: int, subject: str = "scan of the invoice") -> bytes:
    """A customer mail with an attachment that makes it about `size` bytes."""
    return customer_mail(subject=subject, attachment=("scan.bin", os.urandom(size * 3 // 4), "application/pdf"))


class FetchLog:
    """What the IMAP sessions that ended after this point fetched, read from Dovecot's log."""

    def __init__(self, dovecot) -> None:
        self.path = dovecot.log_path
        self.start = self.path.stat().st_size

    def totals(self) -> tuple[int, int, int]:
        """(hdr_count, body_count, body_bytes) of the sessions logged out since the start (at least one)."""
        wait_until(lambda: len(self._read()) >= 1, 10)
        found = self._read()
        return sum(s[0] for s in found), sum(s[1] for s in found), sum(s[2] for s in found)

    def _read(self) -> list[tuple[int, int, int]]:
        with self.path.open("rb") as log:
            log.seek(self.start)
            lines = [line for line in log.read().splitlines() if SUPPORT_USER.encode() in line]
        return [tuple(int(n) for n in found.groups()) for line in lines if (found := _FETCHED.search(line))]


def test_message_over_the_limit_is_recorded_once_from_its_header_and_never_downloaded(make_app, dovecot, sink, mailbox):
    big = big_mail(3 * LIMIT)
    big_uid = dovecot.append(SUPPORT_USER, mailbox, big)
    small_uid = dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="small"))
    app = make_app(extra_mailbox=f"max_message_bytes = {LIMIT}")
    first = FetchLog(dovecot)
    run_once(app)
    hdr_count, body_count, body_bytes = first.totals()
    second = FetchLog(dovecot)
    run_once(app)

    # The first poll fetched one header and one body (the small mail's); the second fetched nothing at all.
    assert (hdr_count, body_count) == (1, 1) and body_bytes < 10_000
    assert second.totals() == (0, 0, 0)
    with Session(app.engine) as session:
        rows = session.exec(select(Message).order_by(Message.uid)).all()
        state = session.exec(select(MailboxState).where(MailboxState.folder == mailbox)).one()
        report = gather_status(reader=reader_of(session), settings=app.settings)
    assert [(m.uid, m.kind) for m in rows] == [(big_uid, "too_large"), (small_uid, "customer")]
    too_large = rows[0]
    assert too_large.raw == big[: big.index(b"\r\n\r\n") + 4] and too_large.raw_path is None
    assert (too_large.subject, too_large.from_addr) == ("scan of the invoice", "anna@example.org")
    assert too_large.defects.startswith(f"too_large: {len(big)} bytes, max_message_bytes is {LIMIT}")
    assert state.last_uid == small_uid and report.too_large == 1
    assert "\\Seen" in dovecot.flags(SUPPORT_USER, mailbox)[big_uid]


def test_status_shows_how_many_messages_are_too_large(make_app, dovecot, sink, mailbox, config_file):
    dovecot.append(SUPPORT_USER, mailbox, big_mail(2 * LIMIT))
    run_once(make_app(extra_mailbox=f"max_message_bytes = {LIMIT}"))
    result = run_cli("status", config=config_file(extra_mailbox=f"max_message_bytes = {LIMIT}", schema=False))
    assert result.returncode == 0 and "messages: 0 quarantined, 1 too large" in result.stdout


def test_message_over_the_limit_is_never_deleted_from_the_server(make_app, dovecot, sink, mailbox):
    big_uid = dovecot.append(SUPPORT_USER, mailbox, big_mail(2 * LIMIT))
    small_uid = dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="small"))
    app = make_app(extra_mailbox=f'max_message_bytes = {LIMIT}\nafter_sync = "delete"')
    run_once(app)
    run_once(app)
    # Only its header is stored, so it stays on the server; the mail that was stored whole is deleted.
    assert dovecot.uids(SUPPORT_USER, mailbox) == [big_uid] and small_uid != big_uid
    with Session(app.engine) as session:
        assert len(session.exec(select(Message)).all()) == 2


# Runs the command as its own child and prints that child's peak RSS. A process forked from pytest would count
# pytest's pages as its own (Linux keeps the high-water mark across exec); one forked from this small launcher
# starts from the launcher's few MB.
_LAUNCHER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:], stdin=open(sys.argv[1], "rb") if sys.argv[1] != "-" else None)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def peak_rss_mb(config: Path, *args: str, stdin: Path | None = None) -> float:
    """Run `mailbridge ARGS` in a child process and return its peak RSS in MB (it must exit 0)."""
    command = [sys.executable, "-m", "mailbridge", "--config", str(config), *args]
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(stdin or "-"), *command], cwd=REPO, capture_output=True, text=True
    )
    kilobytes, code = launched.stdout.split()[-2:]
    assert code == "0", launched.stderr[-3000:]
    return int(kilobytes) / 1024  # ru_maxrss is in kilobytes on Linux


def test_poll_past_a_huge_message_does_not_grow_memory(config_file, dovecot, sink, mailbox):
    config = config_file(extra_mailbox=f"max_message_bytes = {LIMIT}")
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="before"))
    baseline = peak_rss_mb(config, "run", "--once")
    huge = big_mail(60 * 1024 * 1024)
    dovecot.append(SUPPORT_USER, mailbox, huge)
    with_huge = peak_rss_mb(config, "run", "--once")
    again = peak_rss_mb(config, "run", "--once")
    print(
        f"peak RSS of `run --once`: {baseline:.0f} MB, past a {len(huge) / 2**20:.0f} MB message {with_huge:.0f} MB, "
        f"next poll {again:.0f} MB"
    )
    # Downloading it would take at least its 80 MB; the header costs nothing measurable.
    assert with_huge < baseline + 20 and again < baseline + 20


@pytest.mark.parametrize("processes", [1, 0])  # parsed in a worker, or by intake in the poller itself
def test_message_over_max_parts_is_quarantined_and_the_batch_goes_on(make_app, dovecot, sink, mailbox, processes):
    hostile = many_parts(40)
    uids = [
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="anna@example.org", subject="Order 1 late")),
        dovecot.append(SUPPORT_USER, mailbox, hostile),
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="bob@example.org", subject="Order 2 late")),
    ]
    app = make_app(extra=f"[ingest]\nmax_parts = 10\nparse_processes = {processes}\n")
    try:
        run_once(app)
    finally:
        app.preparer.close()
    with Session(app.engine) as session:
        rows = session.exec(select(Message).order_by(Message.uid)).all()
    assert [m.uid for m in rows] == uids
    assert [m.kind for m in rows] == ["customer", "quarantined", "customer"]
    assert rows[1].defects == "over the MIME part limit of 10 parts" and rows[1].raw == hostile
    assert len(sink.messages) == 2
    assert all("\\Seen" in flags for flags in dovecot.flags(SUPPORT_USER, mailbox).values())


def test_a_huge_message_on_stdin_is_recorded_as_too_large_in_bounded_memory(config_file, tmp_path):
    """`ingest` from an MTA: over max_message_bytes, only the head is kept in memory and stored; twice is once."""
    config = config_file(extra_mailbox=f"max_message_bytes = {LIMIT}")
    small = tmp_path / "small.eml"
    small.write_bytes(customer_mail(subject="small one"))
    baseline = peak_rss_mb(config, "ingest", stdin=small)
    huge = tmp_path / "huge.eml"
    huge.write_bytes(big_mail(200 * 1024 * 1024, subject="a 200 MB scan"))
    first = peak_rss_mb(config, "ingest", stdin=huge)
    again = peak_rss_mb(config, "ingest", stdin=huge)
    print(f"peak RSS of `ingest` on stdin: {baseline:.0f} MB small, {first:.0f} MB and {again:.0f} MB for 200 MB")
    # Reading it whole would take 200 MB at least; measured: about 50 MB above the small message's run.
    assert first < baseline + 100 and again < baseline + 100
    listed = run_cli("messages", "list", "--kind", "too_large", "--json", config=config)
    [row] = json.loads(listed.stdout)
    assert "a 200 MB scan" in json.dumps(row, ensure_ascii=False) and "only its header was kept" in json.dumps(row)
