"""Parked mail an admin deals with: `outbox cancel` gives unsent mail up (never sent afterwards, even when a sender
had claimed it) and `messages dismiss` acknowledges a quarantined message; both stop counting in `status --check`."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

from sqlmodel import Session, select

from mailbridge.ingest import intake, prepare
from mailbridge.store.models import Message, OutboxMail, TicketEvent
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.integration.test_cli_json import error_lines
from tests.integration.test_monitoring import check


def outbox_rows(app) -> list[OutboxMail]:
    with Session(app.engine) as session:
        return list(session.exec(select(OutboxMail).order_by(OutboxMail.id)))


def test_cancelled_held_mail_stops_counting_and_is_never_sent(make_app, config_file, dovecot, sink, mailbox, clock):
    app = make_app()
    path = app.settings.path
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    sink.fail_next("RCPT", 550)
    run_once(app)
    [held] = outbox_rows(app)
    assert held.status == "held"
    code, line = check(path, clock)
    assert code == 1 and line.startswith("MAILBRIDGE WARNING - 1 mail held | ")

    result = run_cli("outbox", "cancel", str(held.id), "--actor", "admin:ops", config=path, clock=clock)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"outbox item {held.id} cancelled (was held)\n"
    code, line = check(path, clock)
    assert code == 0 and line.startswith("MAILBRIDGE OK - 1 mailbox syncing, 0 unsent, 0 held")

    clock.advance(hours=1)
    run_once(app)
    [row] = outbox_rows(app)
    assert row.status == "cancelled" and sink.messages == []
    assert row.last_error.startswith("cancelled by admin:ops at ") and "last error: 550" in row.last_error
    listed = json.loads(run_cli("outbox", "list", "--status", "cancelled", "--json", config=path).stdout)
    assert [r["id"] for r in listed] == [row.id]
    with Session(app.engine) as session:
        [event] = session.exec(select(TicketEvent).where(TicketEvent.kind == "mail_cancelled"))
    assert event.actor == "admin:ops" and f"outbox {row.id} receipt" in event.reason and "(held)" in event.reason


def test_cancel_takes_several_ids_and_refuses_those_in_the_wrong_state(make_app, dovecot, sink, mailbox, clock):
    app = make_app()
    path = app.settings.path
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [sent] = outbox_rows(app)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="bob@example.org", subject="Second"))
    sink.fail_next("RCPT", 451)
    run_once(app)
    queued = outbox_rows(app)[1]
    assert (sent.status, queued.status) == ("sent", "queued")

    result = run_cli("outbox", "cancel", str(sent.id), str(queued.id), "999", config=path, clock=clock)
    assert result.returncode == 1
    assert result.stdout == f"outbox item {queued.id} cancelled (was queued)\n"
    assert error_lines(result.stderr) == [
        f"mailbridge: error: outbox item {sent.id} is sent, not queued or held: only unsent mail can be cancelled",
        "mailbridge: error: no outbox item with id 999",
    ]
    again = run_cli("outbox", "cancel", str(queued.id), "--json", config=path, clock=clock)
    assert again.returncode == 1
    assert json.loads(again.stdout) == [
        {"id": queued.id, "cancelled": False, "was": None, "error": f"outbox item {queued.id} is cancelled already"}
    ]
    clock.advance(hours=1)
    run_once(app)
    assert [r.status for r in outbox_rows(app)] == ["sent", "cancelled"] and len(sink.messages) == 1
    # Given up by mistake: `outbox retry` puts it back in line.
    assert run_cli("outbox", "retry", str(queued.id), config=path, clock=clock).returncode == 0
    run_once(app)
    assert [r.status for r in outbox_rows(app)] == ["sent", "sent"] and len(sink.messages) == 2


class CancelOnFirstSend:
    """The real SMTP sender; before its first mail goes out, an admin cancels the mail to `victim` with the CLI."""

    def __init__(self, real, app, victim: str, clock):
        self.real, self.app, self.victim, self.clock = real, app, victim, clock
        self.cancelled: list[int] = []

    @asynccontextmanager
    async def connection(self):
        async with self.real.connection() as connection:
            outer = self

            class Connection:
                async def send(self, *, mail_from, recipients, raw):
                    if not outer.cancelled:
                        outer.cancel_victim()
                    await connection.send(mail_from=mail_from, recipients=recipients, raw=raw)

            yield Connection()

    def cancel_victim(self) -> None:
        with Session(self.app.engine) as session:
            row = session.exec(select(OutboxMail).where(OutboxMail.rcpt_to == self.victim)).one()
        assert row.status == "sending"  # claimed in the same batch as the mail being sent
        result = run_cli("outbox", "cancel", str(row.id), config=self.app.settings.path, clock=self.clock)
        assert result.stdout.startswith(f"outbox item {row.id} cancelled (was sending: ")
        assert row.id is not None
        self.cancelled.append(row.id)


def test_mail_cancelled_after_a_sender_claimed_it_is_not_sent(any_db_app, dovecot, sink, mailbox, clock):
    app = any_db_app
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="bob@example.org", subject="Second"))
    app.sender = sender = CancelOnFirstSend(app.sender, app, "bob@example.org", clock)
    run_once(app)
    assert [m.rcpt_tos for m in sink.messages] == [("anna@example.org",)]
    [victim] = [r for r in outbox_rows(app) if r.id in sender.cancelled]
    assert (victim.status, victim.attempts) == ("cancelled", 1)  # claimed once, then left unsent
    clock.advance(hours=3)  # past the sending lease: no sender takes it up again
    run_once(app)
    assert len(sink.messages) == 1 and outbox_rows(app)[1].status == "cancelled"


def test_dismissed_quarantined_message_stops_counting_and_can_still_be_retried(
    make_app, dovecot, sink, mailbox, monkeypatch, clock
):
    # No worker: the poller prepares the batch, then intake prepares again what that failed on, inside its guard.
    app = make_app(extra="[ingest]\nparse_processes = 0\n")
    path = app.settings.path
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Poison"))
    real = intake.prepare_mail

    def broken(raw, max_bytes=None, *, digest=None, limits=None):
        raise ValueError("parser bug")

    monkeypatch.setattr(intake, "prepare_mail", broken)
    monkeypatch.setattr(prepare, "prepare_mail", broken)
    for _ in range(3):
        run_once(app)
    monkeypatch.setattr(intake, "prepare_mail", real)
    monkeypatch.setattr(prepare, "prepare_mail", real)
    with Session(app.engine) as session:
        [row] = session.exec(select(Message))
    assert row.kind == "quarantined"
    code, line = check(path, clock)
    assert code == 1 and "1 message quarantined" in line

    result = run_cli("messages", "dismiss", str(row.id), "--actor", "admin:ops", config=path, clock=clock)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"message {row.id} dismissed (was quarantined)\n"
    code, line = check(path, clock)
    assert code == 0 and "0 quarantined" in line
    with Session(app.engine) as session:
        [row] = session.exec(select(Message))
    assert row.kind == "dismissed" and row.raw and row.defects.startswith("ValueError: parser bug")
    assert row.defects.splitlines()[-1].startswith("dismissed quarantined by admin:ops at ")
    listed = json.loads(run_cli("messages", "list", "--kind", "dismissed", "--json", config=path).stdout)
    assert [m["id"] for m in listed] == [row.id]
    shown = run_cli("messages", "list", config=path).stdout
    assert "dismissed" in shown and "ValueError: parser bug" in shown

    again = run_cli("messages", "dismiss", str(row.id), "12345", config=path, clock=clock)
    assert again.returncode == 1 and again.stdout == ""
    assert error_lines(again.stderr) == [
        f"mailbridge: error: message {row.id} is dismissed already",
        "mailbridge: error: no stored message with id 12345",
    ]
    as_json = run_cli("messages", "dismiss", str(row.id), "--json", config=path, clock=clock)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == [
        {"id": row.id, "dismissed": False, "was": None, "error": f"message {row.id} is dismissed already"}
    ]
    retried = run_cli("messages", "retry", str(row.id), config=path, clock=clock)
    assert retried.returncode == 0, retried.stderr
    with Session(app.engine) as session:
        [stored] = session.exec(select(Message))
    assert stored.kind == "customer" and stored.subject == "Poison"
    refused = run_cli("messages", "dismiss", str(stored.id), config=path, clock=clock)
    assert error_lines(refused.stderr) == [
        f"mailbridge: error: message {stored.id} is customer, not quarantined or too_large: only those can be dismissed"
    ]


def test_list_filters_refuse_an_unknown_value(config_file):
    path = config_file()
    outbox = run_cli("outbox", "list", "--status", "canceled", config=path)
    assert (
        outbox.returncode == 1 and "--status: expected one of queued, sending, sent, held, cancelled" in outbox.stderr
    )
    messages = run_cli("messages", "list", "--kind", "dismised", config=path)
    assert messages.returncode == 1 and "dismissed" in messages.stderr and "'dismised'" in messages.stderr
