"""Bringing history in (issue 20): an mbox and IMAP Archive and Sent folders imported as closed tickets, our answers
threaded as agents' answers, nothing sent, nothing changed on the server, nothing stored twice (Dovecot + the sink)."""

from __future__ import annotations

import mailbox as mailboxes
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailbridge.base.clock import utc
from mailbridge.runtime.app import App
from mailbridge.store.models import Message, OutboxMail, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once

ANNA = "anna@example.org"


def at(day: int, month: int = 12, hour: int = 10) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=UTC)


def dated(raw: bytes, when: datetime, message_id: str) -> bytes:
    """A test mail with its Date and Message-ID set (customer_mail dates every mail at the fixed clock's now)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.startswith((b"Date:", b"Message-ID:"))]
    lines += [f"Date: {format_datetime(when)}".encode(), f"Message-ID: {message_id}".encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def our_answer(*, to: str, subject: str, in_reply_to: str | None, when: datetime, message_id: str) -> bytes:
    """An answer written in the shared mailbox's mail client: From the support address, as a Sent folder holds it."""
    message = EmailMessage()
    message["From"] = f"Shop support <{SUPPORT_USER}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content("We sent it again yesterday; it arrives on Monday.")
    return message.as_bytes().replace(b"\n", b"\r\n")


def anna_question(day: int = 20) -> bytes:
    return dated(customer_mail(), at(day), "<anna-1@example.org>")


def anna_answer(day: int = 20) -> bytes:
    return our_answer(
        to=f"Anna Rossi <{ANNA}>",
        subject="Re: Order 1234 not arrived",
        in_reply_to="<anna-1@example.org>",
        when=at(day, hour=12),
        message_id="<answer-1@shop.example>",
    )


def bob_question() -> bytes:
    raw = customer_mail(sender="bob@example.net", name="Bob", subject="Invoice missing", body="Where is it?")
    return dated(raw, at(10, month=11), "<bob-1@example.net>")


def write_mbox(path: Path, *mails: bytes) -> Path:
    box = mailboxes.mbox(path, create=True)
    for raw in mails:
        box.add(raw.replace(b"\r\n", b"\n"))
    box.flush()
    return path


def tickets(app: App) -> dict[str, Ticket]:
    with Session(app.engine) as session:
        found = {}
        for ticket in session.exec(select(Ticket)):
            session.expunge(ticket)
            found[ticket.subject] = ticket
        return found


def messages(app: App, ticket: Ticket) -> list[Message]:
    with Session(app.engine) as session:
        rows = list(session.exec(select(Message).where(Message.ticket_id == ticket.id).order_by(Message.sent_at)))
        for row in rows:
            session.expunge(row)
        return rows


def outbox_rows(app: App) -> int:
    with Session(app.engine) as session:
        return len(session.exec(select(OutboxMail)).all())


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_mbox_history_is_closed_threaded_and_sends_nothing(
    database, request, make_app, clock, config_file, sink, tmp_path
):
    url = None
    if database == "postgres":
        url = request.getfixturevalue("postgres").create_database(f"h{abs(hash(request.node.nodeid)) % 10**8}")
    app = make_app(db_url=url)
    path = write_mbox(tmp_path / "support.mbox", anna_question(), anna_answer(), bob_question())

    first = run_cli("ingest", "--status", "closed", str(path), config=config_file(db_url=url), clock=clock)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "stored 3, duplicate 0, flagged 0, not stored 0, failed 0",
        "tickets: opened 2, threaded 1 (answers 1); imported tickets now: closed 2",
    ]
    run_once(app)  # the daemon's next cycle would send whatever the import queued

    assert sink.messages == [] and outbox_rows(app) == 0
    found = tickets(app)
    anna, bob = found["Order 1234 not arrived"], found["Invoice missing"]
    assert (anna.status, utc(anna.closed_at), utc(anna.created_at)) == ("closed", at(20, hour=12), at(20))
    assert utc(anna.first_response_at) == at(20, hour=12)
    assert (bob.status, utc(bob.closed_at)) == ("closed", at(10, month=11))
    question, answer = messages(app, anna)
    assert (question.direction, question.kind) == ("in", "customer")
    assert (answer.direction, answer.kind, answer.match_reason) == ("out", "agent_reply", "in_reply_to")
    assert answer.from_addr == SUPPORT_USER

    again = run_cli("ingest", "--status", "closed", str(path), config=config_file(db_url=url), clock=clock)
    assert again.stdout.splitlines()[0] == "stored 0, duplicate 3, flagged 0, not stored 0, failed 0"
    assert len(tickets(app)) == 2 and len(messages(app, anna)) == 2 and outbox_rows(app) == 0


def test_closed_before_closes_older_tickets_and_leaves_newer_ones_open(make_app, clock, config_file, sink, tmp_path):
    app = make_app()
    path = write_mbox(tmp_path / "support.mbox", bob_question(), anna_question(), anna_answer())

    result = run_cli("ingest", "--closed-before", "2025-12-01", "--json", str(path), config=config_file(), clock=clock)
    assert result.returncode == 0, result.stderr
    assert '"statuses": {\n      "closed": 1,\n      "waiting": 1\n    }' in result.stdout
    found = tickets(app)
    assert found["Invoice missing"].status == "closed"
    # Anna's ticket is newer than the date, and our answer came last: it waits on her, as after a live answer.
    anna = found["Order 1234 not arrived"]
    assert (anna.status, anna.closed_at) == ("waiting", None)
    run_once(app)
    assert sink.messages == []


def test_closed_before_without_an_offset_is_read_in_the_sla_time_zone_as_stats_reads_it(
    make_app, clock, config_file, tmp_path
):
    # [sla] timezone is Europe/Rome (UTC+1 in winter): "2025-12-01" ends at 23:00 UTC on 30 November. Bob wrote at
    # 23:30 UTC, 00:30 in Rome on 1 December: not before the date, so his ticket stays open.
    app = make_app()
    raw = customer_mail(sender="bob@example.net", name="Bob", subject="Invoice missing", body="Where is it?")
    path = write_mbox(tmp_path / "late.mbox", dated(raw, datetime(2025, 11, 30, 23, 30, tzinfo=UTC), "<bob-9@x>"))
    assert app.settings.sla.timezone == "Europe/Rome"
    result = run_cli("ingest", "--closed-before", "2025-12-01", str(path), config=config_file(), clock=clock)
    assert result.returncode == 0, result.stderr
    assert tickets(app)["Invoice missing"].status == "new"
    explicit = run_cli("ingest", "--closed-before", "2025-12-01T00:00:00+00:00", str(path), config=config_file())
    assert explicit.stdout.splitlines()[0].startswith("stored 0, duplicate 1")
    assert tickets(app)["Invoice missing"].status == "closed"  # settled again: 23:30 UTC is before midnight UTC


def test_imap_sent_and_archive_folders_are_imported_read_only(make_app, clock, config_file, dovecot, mailbox, sink):
    app = make_app()
    archive, sent = f"{mailbox}-Archive", f"{mailbox}-Sent"
    for folder in (archive, sent):
        dovecot.create_folder(SUPPORT_USER, folder)
    dovecot.append(SUPPORT_USER, archive, anna_question(), flags=[r"\Seen"])
    dovecot.append(SUPPORT_USER, archive, bob_question())
    dovecot.append(SUPPORT_USER, sent, anna_answer(), flags=[r"\Seen"])
    before = {folder: dovecot.flags(SUPPORT_USER, folder) for folder in (archive, sent)}

    # The Sent folder first: its answer opens Anna's ticket, and her question, imported after, joins it.
    for folder in (sent, archive):
        result = run_cli(
            "mailboxes",
            "import",
            "support",
            "--folder",
            folder,
            "--status",
            "closed",
            config=config_file(),
            clock=clock,
        )
        assert result.returncode == 0, result.stderr
    run_once(app)

    assert sink.messages == [] and outbox_rows(app) == 0
    assert {folder: dovecot.flags(SUPPORT_USER, folder) for folder in (archive, sent)} == before
    found = tickets(app)
    assert sorted(found) == ["Invoice missing", "Re: Order 1234 not arrived"]
    anna = found["Re: Order 1234 not arrived"]
    assert (anna.status, utc(anna.created_at), utc(anna.closed_at)) == ("closed", at(20), at(20, hour=12))
    assert [(m.folder, m.direction) for m in messages(app, anna)] == [(archive, "in"), (sent, "out")]
    assert found["Invoice missing"].status == "closed"

    again = run_cli("mailboxes", "import", "support", "--folder", archive, config=config_file(), clock=clock)
    assert again.stdout.splitlines()[0] == "stored 0, duplicate 2, flagged 0, not stored 0, failed 0"
    assert tickets(app)["Invoice missing"].status == "closed"  # a closed ticket stays closed without --status


def test_a_polled_folder_is_refused_as_history(config_file, clock, mailbox):
    result = run_cli("mailboxes", "import", "support", "--folder", mailbox, config=config_file(), clock=clock)
    assert result.returncode != 0
    assert "polls this folder" in result.stderr.strip().splitlines()[-1]


def test_customer_reply_to_an_imported_closed_ticket_reopens_it(make_app, clock, config_file, dovecot, mailbox, sink):
    app = make_app()
    archive = f"{mailbox}-Archive"
    dovecot.create_folder(SUPPORT_USER, archive)
    dovecot.append(SUPPORT_USER, archive, anna_question(day=28))
    dovecot.append(SUPPORT_USER, archive, anna_answer(day=28))
    result = run_cli(
        "mailboxes", "import", "support", "--folder", archive, "--status", "closed", config=config_file(), clock=clock
    )
    assert result.returncode == 0, result.stderr

    reply = customer_mail(
        subject="Re: Order 1234 not arrived", body="Still nothing.", in_reply_to="<answer-1@shop.example>"
    )
    dovecot.append(SUPPORT_USER, mailbox, reply)
    run_once(app)

    [ticket] = tickets(app).values()
    assert (ticket.status, ticket.closed_at) == ("open", None)
    assert len(messages(app, ticket)) == 3
    # A reply to a closed ticket within the reopen window reopens it without a receipt, as for any ticket.
    assert not any(ANNA in m.rcpt_tos for m in sink.messages)


def test_imported_tickets_are_never_presale(make_app, clock, config_file, dovecot, mailbox, sink, tmp_path):
    """A first contact naming no order is pre-sale when it writes now, never when an archive brings it in."""
    app = make_app()
    archive = f"{mailbox}-Archive"
    dovecot.create_folder(SUPPORT_USER, archive)
    dovecot.append(SUPPORT_USER, archive, bob_question())
    carla = customer_mail(sender="carla@example.net", name="Carla", subject="Do you ship to Malta?", body="Hi")
    path = write_mbox(tmp_path / "old.mbox", dated(carla, at(3, month=11), "<carla-1@example.net>"))

    imported = run_cli("mailboxes", "import", "support", "--folder", archive, config=config_file(), clock=clock)
    from_file = run_cli("ingest", str(path), config=config_file(), clock=clock)
    assert imported.returncode == 0 and from_file.returncode == 0, imported.stderr + from_file.stderr
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="dan@example.net", name="Dan", subject="Price of X?"))
    run_once(app)

    found = tickets(app)
    assert {subject: ticket.presale for subject, ticket in found.items()} == {
        "Invoice missing": False,
        "Do you ship to Malta?": False,
        "Price of X?": True,  # the same kind of mail arriving live is flagged
    }
