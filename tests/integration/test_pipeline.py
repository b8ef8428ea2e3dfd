"""The walking skeleton end to end: a customer email in over IMAPS becomes a ticket and gets a receipt over SMTP."""

from __future__ import annotations

import email
import json
from email import policy

import pytest
from sqlmodel import Session, select

from mailbridge.decisions.matching.ticket_numbers import is_valid_ticket_number
from mailbridge.store.models import Attachment, Message, OutboxMail, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once


def tickets(app) -> list[Ticket]:
    with Session(app.engine) as session:
        return list(session.exec(select(Ticket).order_by(Ticket.id)))


def receipts(sink) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages]


def test_customer_mail_becomes_ticket_and_gets_receipt(any_db_app, dovecot, sink, mailbox):
    raw = customer_mail()
    uid = dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(any_db_app)

    [ticket] = tickets(any_db_app)
    assert is_valid_ticket_number(ticket.number)
    assert ticket.status == "new" and ticket.subject == "Order 1234 not arrived"
    with Session(any_db_app.engine) as session:
        [stored] = session.exec(select(Message))
        [queued] = session.exec(select(OutboxMail))
    assert stored.raw == raw and stored.from_addr == "anna@example.org" and stored.ticket_id == ticket.id
    [receipt] = receipts(sink)
    customer = email.message_from_bytes(raw, policy=policy.default)
    assert receipt["From"].addresses[0].addr_spec == SUPPORT_USER
    assert receipt["To"].addresses[0].addr_spec == "anna@example.org"
    assert f"[#{ticket.number}]" in receipt["Subject"]
    assert receipt["In-Reply-To"] == customer["Message-ID"]
    assert customer["Message-ID"] in receipt["References"]
    assert receipt["Message-ID"] == queued.message_id and queued.status == "sent"
    assert receipt["Auto-Submitted"] == "auto-replied"
    assert sink.messages[0].rcpt_tos == ("anna@example.org",)
    assert "\\Seen" in dovecot.flags(SUPPORT_USER, mailbox)[uid]


def test_second_run_creates_no_ticket_and_no_receipt(make_app, dovecot, sink, mailbox):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    run_once(app)
    assert len(tickets(app)) == 1
    assert len(sink.messages) == 1


def test_reply_to_receipt_joins_the_ticket_without_new_receipt(make_app, dovecot, sink, mailbox):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [receipt] = receipts(sink)
    dovecot.append(
        SUPPORT_USER,
        mailbox,
        customer_mail(subject="Re: " + receipt["Subject"], body="Any news?", in_reply_to=receipt["Message-ID"]),
    )
    run_once(app)
    [ticket] = tickets(app)
    with Session(app.engine) as session:
        reasons = [m.match_reason for m in session.exec(select(Message).order_by(Message.id))]
    assert reasons == ["new", "in_reply_to"]
    assert len(sink.messages) == 1


def test_subject_number_from_the_same_customer_joins_the_ticket(make_app, dovecot, sink, mailbox):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [ticket] = tickets(app)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject=f"About [#{ticket.number}]", body="Me again"))
    run_once(app)
    assert len(tickets(app)) == 1


def test_subject_number_from_a_stranger_opens_a_new_ticket(make_app, dovecot, sink, mailbox):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [ticket] = tickets(app)
    dovecot.append(
        SUPPORT_USER,
        mailbox,
        customer_mail(sender="mallory@evil.example", name="Mallory", subject=f"Re: [#{ticket.number}]"),
    )
    run_once(app)
    assert len(tickets(app)) == 2


@pytest.mark.parametrize(
    "header, value",
    [
        ("Auto-Submitted", "auto-replied"),
        ("Precedence", "bulk"),
        ("Precedence", "list"),
        ("Precedence", "junk"),
        ("List-Id", "<news.example.org>"),
    ],
)
def test_automatic_mail_is_stored_but_gets_no_receipt(make_app, dovecot, sink, mailbox, header, value):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(headers={header: value}))
    run_once(app)
    assert len(tickets(app)) == 1
    assert sink.messages == []


def test_auto_submitted_no_still_gets_a_receipt(make_app, dovecot, sink, mailbox):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(headers={"Auto-Submitted": "no"}))
    run_once(app)
    assert len(sink.messages) == 1


def test_broken_mime_is_stored_with_raw_bytes_and_flagged(make_app, dovecot, sink, mailbox):
    raw = (
        b"From: Petr Novak <petr@example.cz>\r\nTo: support@shop.example\r\nSubject: broken\r\n"
        b"Message-ID: <broken-1@example.cz>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n--XYZ\r\nContent-Type: text/plain\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n--XY"
    )
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)
    [ticket] = tickets(app)
    with Session(app.engine) as session:
        [stored] = session.exec(select(Message))
    assert stored.raw == raw and stored.is_malformed and stored.defects
    assert stored.ticket_id == ticket.id


def test_pdf_attachment_is_stored(make_app, dovecot, sink, mailbox):
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(attachment=("../../invoice 7.pdf", pdf, "application/pdf")))
    run_once(app)
    with Session(app.engine) as session:
        [attachment] = session.exec(select(Attachment))
    assert attachment.content == pdf and attachment.content_type == "application/pdf"
    assert "/" not in attachment.filename and attachment.filename.endswith(".pdf")


class CrashAfter:
    """Wraps the real source factory: the named call really happens, then the power is cut."""

    def __init__(self, open_source, method: str):
        self.open_source, self.method = open_source, method

    def __call__(self, settings):
        source = self.open_source(settings)
        real = getattr(source, self.method)

        def crash(*args, **kwargs):
            real(*args, **kwargs)
            raise SystemExit("power cut")

        setattr(source, self.method, crash)
        return source


@pytest.mark.parametrize("method", ["fetch", "mark_processed"])
def test_crash_during_poll_loses_and_doubles_nothing(make_app, dovecot, sink, mailbox, method):
    uid = dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    app = make_app()
    real_open = app.open_source
    app.open_source = CrashAfter(real_open, method)
    with pytest.raises(SystemExit):
        run_once(app)
    app.open_source = real_open
    run_once(app)
    run_once(app)
    assert len(tickets(app)) == 1
    assert len(sink.messages) == 1
    assert "\\Seen" in dovecot.flags(SUPPORT_USER, mailbox)[uid]


def test_new_only_mailbox_ignores_mail_already_there(make_app, dovecot, sink, mailbox):
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="old mail"))
    app = make_app(initial_sync="new-only")
    run_once(app)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="new mail"))
    run_once(app)
    assert [t.subject for t in tickets(app)] == ["new mail"]
    assert len(sink.messages) == 1


def test_import_silently_stores_history_without_any_mail(make_app, dovecot, sink, mailbox):
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="old mail"))
    app = make_app(initial_sync="import-silently")
    run_once(app)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="new mail"))
    run_once(app)
    assert [t.subject for t in tickets(app)] == ["old mail", "new mail"]
    assert len(sink.messages) == 1


def test_cli_run_once_then_list_and_show(config_file, dovecot, sink, mailbox):
    path = config_file()
    dovecot.append(
        SUPPORT_USER,
        mailbox,
        customer_mail(subject="Ordine non arrivato", body="Buongiorno, il mio ordine non è ancora arrivato. Grazie"),
    )
    result = run_cli("run", "--once", config=path, env={"MAILBRIDGE_NOW": "2026-11-24T09:00:00Z"})
    assert result.returncode == 0, result.stderr
    listed = json.loads(run_cli("tickets", "list", "--json", config=path).stdout)
    assert [t["subject"] for t in listed] == ["Ordine non arrivato"]
    assert listed[0]["created_at"] == "2026-11-24T10:00:00+01:00"  # [sla] timezone, Europe/Rome by default
    shown = json.loads(run_cli("tickets", "show", listed[0]["number"], "--json", config=path).stdout)
    assert shown["messages"][0]["from"] == "anna@example.org"
    [receipt] = receipts(sink)
    assert "Gentile" in receipt.get_body(("plain",)).get_content()


def test_untrusted_certificate_is_one_clear_error_line(config_file, dovecot, sink, mailbox):
    path = config_file(ca_file=None)
    result = run_cli("run", "--once", config=path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("mailbridge: error: mailbox 'support'")
    assert "certificate not trusted" in lines[-1]
    assert "Traceback" not in result.stderr


def test_wrong_ca_is_refused_and_right_ca_works(config_file, dovecot, sink, mailbox):
    assert run_cli("run", "--once", config=config_file(ca_file=dovecot.other_ca_file)).returncode == 1
    assert run_cli("run", "--once", config=config_file()).returncode == 0


def test_bad_config_names_file_key_and_expectation(config_file, tmp_path):
    path = config_file()
    path.write_text(path.read_text().replace('security = "ssl"', 'security = "tls"'))
    result = run_cli("config", "check", config=path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f'mailbridge: error: {path}: [mailboxes.0] security: expected one of "ssl" | "starttls" | "plain", got \'tls\''
    )


def test_uidvalidity_above_signed_32_bits_is_stored_on_postgres(postgres, make_app, clock):
    from mailbridge.ingest.intake import accept
    from mailbridge.ingest.sources.imap import RawMail

    app = make_app(db_url=postgres.create_database("bigids"))
    result = accept(
        app.inbox(app.settings.mailboxes[0]),
        RawMail("support", "INBOX", 4_294_967_295, 4_294_967_290, customer_mail()),
        clock.now(),
    )
    with Session(app.engine) as session:
        stored = session.get(Message, result.message_row_id)
    assert (stored.uidvalidity, stored.uid) == (4_294_967_295, 4_294_967_290)


def test_subject_number_from_an_agent_address_is_no_proof_and_opens_a_new_ticket(make_app, dovecot, sink, mailbox):
    """Issue 16: an agent is proven by the signed reply address, never by a From line (which anyone can write)."""
    from mailbridge.store import agents, db

    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [ticket] = tickets(app)
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session,
            name="Alice",
            email="alice@shop.example",
            locale=None,
            contacts=["Customer service"],
            now=app.clock.now(),
        )
    dovecot.append(
        SUPPORT_USER,
        mailbox,
        customer_mail(sender="alice@shop.example", name="Alice", subject=f"Re: [#{ticket.number}] note for the team"),
    )
    run_once(app)
    assert len(tickets(app)) == 2
