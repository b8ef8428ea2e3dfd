"""Issue 16, memory: raw mail over [ingest] raw_file_threshold_bytes is kept as a private, content-addressed file
under the data directory instead of a database blob, and read back through `raw_bytes` wherever it is needed;
`mailbridge ingest` of a large message stays within a fixed memory bound plus a few times its size.
"""

from __future__ import annotations

import hashlib
import os
import stat

from sqlmodel import Session, select

from mailbridge.ingest.guard import retry_quarantined
from mailbridge.store.models import Message, Ticket
from mailbridge.store.raw_files import raw_bytes
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.integration.test_big_mail import big_mail, peak_rss_mb
from tests.unit.test_parse_limits import many_parts

MB = 1024 * 1024


def stored(app) -> list[Message]:
    with Session(app.engine) as session:
        return list(session.exec(select(Message).order_by(Message.id)))


def test_large_message_is_kept_as_a_private_file_and_read_back_whole(make_app, dovecot, sink, mailbox, tmp_path):
    raw = big_mail(3 * MB)
    small = customer_mail(subject="small")
    dovecot.append(SUPPORT_USER, mailbox, raw)
    dovecot.append(SUPPORT_USER, mailbox, small)
    app = make_app()
    run_once(app)

    big_row, small_row = stored(app)
    digest = hashlib.sha256(raw).hexdigest()
    path = tmp_path / "raw" / digest[:2] / digest
    assert big_row.raw == b"" and big_row.raw_path == str(path) and big_row.raw_sha256 == digest
    assert path.read_bytes() == raw and raw_bytes(big_row) == raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert {stat.S_IMODE(p.stat().st_mode) for p in (path.parent, path.parent.parent)} == {0o700}
    # Small mail keeps its blob; the large one's ticket and receipt are there as for any mail.
    assert small_row.raw == small and small_row.raw_path is None
    assert big_row.ticket_id is not None and len(sink.messages) == 2
    with Session(app.engine) as session:
        ticket = session.get(Ticket, big_row.ticket_id)
    shown = run_cli("tickets", "show", ticket.number, "--json", config=app.settings.path)
    assert shown.returncode == 0 and f'"raw_bytes": {len(raw)}' in shown.stdout


def test_data_dir_setting_is_where_raw_files_go(make_app, dovecot, sink, mailbox, tmp_path):
    dovecot.append(SUPPORT_USER, mailbox, big_mail(2 * MB))
    app = make_app(extra='[ingest]\ndata_dir = "spool"\nraw_file_threshold_bytes = 100000\n')
    run_once(app)
    (row,) = stored(app)
    assert row.raw_path is not None and row.raw_path.startswith(str(tmp_path / "spool" / "raw"))
    assert hashlib.sha256(raw_bytes(row)).hexdigest() == row.raw_sha256


def test_quarantined_large_message_is_a_file_and_retried_from_it(make_app, dovecot, sink, mailbox, tmp_path):
    hostile = many_parts(40).replace(b"\r\n\r\nx\r\n", b"\r\n\r\n" + b"x" * 5000 + b"\r\n")
    assert len(hostile) > 100_000
    dovecot.append(SUPPORT_USER, mailbox, hostile)
    run_once(make_app(extra="[ingest]\nmax_parts = 10\nraw_file_threshold_bytes = 100000\n"))
    (row,) = stored(app := make_app(extra="[ingest]\nraw_file_threshold_bytes = 100000\n"))
    assert row.kind == "quarantined" and row.raw == b"" and raw_bytes(row) == hostile
    # `messages retry`, now that the limit is raised, reads the file and stores the message again from it.
    result = retry_quarantined(app.engine, app.inbox_named, row.id, app.clock.now())
    (again,) = stored(app)
    assert result.message_row_id == again.id and again.kind == "customer" and raw_bytes(again) == hostile
    assert again.raw_path == row.raw_path


def test_unsaved_contact_forwards_a_large_message_whole(make_app, dovecot, sink, mailbox, tmp_path):
    raw = big_mail(2 * MB, subject="forward me")
    dovecot.append(SUPPORT_USER, mailbox, raw)
    app = make_app()
    assert (
        run_cli("contacts", "edit", "Customer service", "--no-save-messages", config=app.settings.path).returncode == 0
    )
    run_once(make_app())
    (forward,) = sink.messages
    # The forward carries the whole message, attachment included; nothing is stored, no file is written.
    assert raw.split(b"\r\n\r\n", 1)[1][:200] in forward.data.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    assert not (tmp_path / "raw").exists()


def test_ingest_of_a_40_mb_message_stays_within_a_memory_bound(config_file, tmp_path):
    size = 40 * MB
    config = config_file(extra_mailbox=f"max_message_bytes = {64 * MB}", schema=True)
    message = tmp_path / "big.eml"
    message.write_bytes(big_mail(size, subject="forty megabytes"))
    small = tmp_path / "small.eml"
    small.write_bytes(customer_mail(subject="small"))
    baseline = peak_rss_mb(config, "ingest", "--mailbox", "support", stdin=small)
    peak = peak_rss_mb(config, "ingest", "--mailbox", "support", stdin=message)
    print(f"peak RSS of `mailbridge ingest`: {baseline:.0f} MB for a small message, {peak:.0f} MB for 40 MB")
    assert peak < 400 + 3 * size / MB
    digest = hashlib.sha256(message.read_bytes()).hexdigest()
    assert (tmp_path / "raw" / digest[:2] / digest).stat().st_size == os.path.getsize(message)
