"""The outbox against a real SMTP server: retries with backoff, permanent failures held, nothing lost."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from email import message_from_bytes, policy

from sqlmodel import Session, select

from mailbridge.outbox.smtp import SmtpSender
from mailbridge.runtime.jobs import deliver_until_idle
from mailbridge.store import db, outbox_queue
from mailbridge.store.models import OutboxMail, TicketEvent
from tests.conftest import SUPPORT_USER, customer_mail, run_once


def outbox_rows(app) -> list[OutboxMail]:
    with Session(app.engine) as session:
        return list(session.exec(select(OutboxMail).order_by(OutboxMail.id)))


def deliver(app):
    return asyncio.run(deliver_until_idle(app))


def test_temporary_smtp_failure_is_retried_later(make_app, dovecot, sink, mailbox, clock):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    sink.fail_next("RCPT", 451)
    run_once(app)
    [row] = outbox_rows(app)
    assert (row.status, row.attempts) == ("queued", 1) and row.last_error.startswith("451")
    assert sink.messages == []
    deliver(app)
    assert sink.messages == []
    clock.advance(minutes=1)
    deliver(app)
    assert len(sink.messages) == 1 and outbox_rows(app)[0].status == "sent"


def test_permanent_smtp_failure_is_held_and_recorded_on_the_ticket(make_app, dovecot, sink, mailbox, clock):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    sink.fail_next("RCPT", 550)
    run_once(app)
    [row] = outbox_rows(app)
    assert row.status == "held" and row.last_error.startswith("550")
    with Session(app.engine) as session:
        kinds = [e.kind for e in session.exec(select(TicketEvent).where(TicketEvent.ticket_id == row.ticket_id))]
    assert "mail_failed" in kinds
    clock.advance(days=1)
    deliver(app)
    assert sink.messages == []


def test_held_mail_is_sent_after_outbox_retry(make_app, dovecot, sink, mailbox, clock):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    sink.fail_next("DATA", 554)
    run_once(app)
    [row] = outbox_rows(app)
    with db.transaction(app.engine) as session:
        outbox_queue.requeue(session=session, outbox_id=row.id, now=clock.now())
    deliver(app)
    assert len(sink.messages) == 1


def test_smtp_server_down_delays_mail_and_loses_none(make_app, dovecot, sink, mailbox, clock):
    app = make_app(smtp_port=1)  # nothing listens on port 1 of loopback: connection refused
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    for _ in range(6):
        clock.advance(minutes=12)
        deliver(app)
    [row] = outbox_rows(app)
    assert row.status == "queued" and row.attempts >= 4
    app.sender = SmtpSender(replace(app.settings.smtp.connection, port=sink.port))  # the server is back
    clock.advance(hours=2)
    deliver(app)
    assert len(sink.messages) == 1 and outbox_rows(app)[0].status == "sent"


def test_attempt_left_sending_by_a_crash_is_resent_identically_after_the_lease(make_app, dovecot, sink, mailbox, clock):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [first] = sink.messages
    with db.transaction(app.engine) as session:
        row = session.get(OutboxMail, outbox_rows(app)[0].id)
        row.status, row.last_attempt_at = "sending", clock.now()  # as if the process died mid-send
    deliver(app)
    assert len(sink.messages) == 1
    clock.advance(minutes=11)
    deliver(app)
    assert len(sink.messages) == 2 and sink.messages[1].data == first.data


def test_enqueue_twice_with_one_key_writes_one_row(make_app, dovecot, sink, mailbox, clock):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [row] = outbox_rows(app)
    mail = message_from_bytes(row.raw, policy=policy.default)
    with db.transaction(app.engine) as session:
        again = outbox_queue.enqueue(
            session=session,
            mail=mail,
            sign=app.mail.sign,
            dedupe_key=row.dedupe_key,
            kind="receipt",
            ticket_id=row.ticket_id,
            now=clock.now(),
        )
    assert again == row.id and len(outbox_rows(app)) == 1


def test_dkim_signed_receipt_verifies_at_the_receiver(make_app, dovecot, sink, mailbox, tmp_path):
    import dkim

    from tests.unit.test_dkim_sign import key_pair

    pem, record = key_pair()
    (tmp_path / "dkim.pem").write_bytes(pem)
    app = make_app(extra='[[dkim]]\ndomain = "shop.example"\nselector = "mb1"\nprivate_key_file = "dkim.pem"\n')
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [received] = sink.messages
    dns = {b"mb1._domainkey.shop.example.": record}
    assert dkim.verify(received.data, dnsfunc=lambda name, timeout=5: dns.get(name))


def test_retry_schedule_follows_mailbridge_now_through_the_cli(config_file, dovecot, sink, mailbox):
    from tests.conftest import run_cli

    path = config_file()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    sink.fail_next("RCPT", 451)
    at = {"MAILBRIDGE_NOW": "2026-11-24T09:00:00Z"}
    assert run_cli("run", "--once", config=path, env=at).returncode == 0
    assert sink.messages == []
    assert run_cli("run", "--once", config=path, env={"MAILBRIDGE_NOW": "2026-11-24T09:00:30Z"}).returncode == 0
    assert sink.messages == []
    listed = run_cli("outbox", "list", "--json", config=path)
    import json

    [row] = json.loads(listed.stdout)
    assert row["status"] == "queued" and row["attempts"] == 1 and row["last_error"].startswith("451")
    assert run_cli("run", "--once", config=path, env={"MAILBRIDGE_NOW": "2026-11-24T09:01:00Z"}).returncode == 0
    assert len(sink.messages) == 1
