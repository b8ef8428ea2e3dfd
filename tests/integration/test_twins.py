"""Issue 15 on Dovecot + the SMTP sink: only the server key or the same bytes mean "already stored".

Two different mails that share a Message-ID (a sender that reuses them) are both stored, on one ticket; the same
bytes delivered twice under two UIDs are one message with one receipt; a copy with other trace headers is stored
too, on its twin's ticket, and causes nothing a second time.
"""

from __future__ import annotations

import base64
import email
from email import policy

from sqlmodel import Session, select

from mailbridge.store import agents, db
from mailbridge.store.models import Attachment, Message, OutboxMail, Ticket
from tests.conftest import SUPPORT_USER, run_once
from tests.integration.test_ingest import run_ingest, stored
from tests.integration.test_two_contacts import second_mailbox

MARIA = "maria@shop.example"


def invoice_mail(pdf_name: str, pdf: bytes, *, received: str = "mx1.example.org") -> bytes:
    """A mail as a webshop's mailer sends it: a fixed Message-ID, the same text, one PDF that differs per order."""
    encoded = base64.encodebytes(pdf).decode().replace("\n", "\r\n")
    return (
        f"Received: from {received} (mail.example.org [192.0.2.25])\r\n"
        "\tby mx.shop.example (Postfix) with ESMTPS id 4XyZ1; Mon, 23 Nov 2026 09:59:58 +0100 (CET)\r\n"
        "From: Anna Rossi <anna@example.org>\r\n"
        f"To: {SUPPORT_USER}\r\n"
        "Subject: Documents for my complaint\r\n"
        "Date: Mon, 23 Nov 2026 09:59:51 +0100\r\n"
        "Message-ID: <complaint@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="=_b1"\r\n'
        "\r\n"
        "--=_b1\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Hello, the documents for my complaint are attached.\r\n"
        "Anna\r\n"
        "--=_b1\r\n"
        f'Content-Type: application/pdf; name="{pdf_name}"\r\n'
        f'Content-Disposition: attachment; filename="{pdf_name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{encoded}"
        "--=_b1--\r\n"
    ).encode()


RECEIPT_PDF = b"%PDF-1.4\n% receipt 1234\n" + bytes(range(256))
PHOTO_PDF = b"%PDF-1.4\n% photo of the parcel\n" + bytes(range(255, -1, -1))


def messages(app) -> list[Message]:
    with Session(app.engine) as session:
        return list(session.exec(select(Message).where(Message.direction == "in").order_by(Message.id)))


def outbox_kinds(app) -> list[str]:
    with Session(app.engine) as session:
        return sorted(session.exec(select(OutboxMail.kind)))


def attachment_names(app) -> list[str]:
    with Session(app.engine) as session:
        return sorted(session.exec(select(Attachment.filename)))


def all_seen(dovecot, folder: str) -> bool:
    flags = dovecot.flags(SUPPORT_USER, folder)
    return bool(flags) and all("\\Seen" in f for f in flags.values())


def test_two_mails_with_one_message_id_and_other_attachments_are_both_stored_on_one_ticket(
    make_app, dovecot, sink, mailbox
):
    app = make_app()
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session, email=MARIA, name="Maria", locale=None, contacts=["Customer service"], now=app.clock.now()
        )
    dovecot.append(SUPPORT_USER, mailbox, invoice_mail("receipt.pdf", RECEIPT_PDF))
    dovecot.append(SUPPORT_USER, mailbox, invoice_mail("parcel.pdf", PHOTO_PDF))
    run_once(app)
    first, second = messages(app)
    assert first.message_id == second.message_id == "<complaint@example.org>"
    assert first.raw != second.raw and first.ticket_id == second.ticket_id is not None
    assert (first.match_reason, second.match_reason) == ("new", "twin")
    assert attachment_names(app) == ["parcel.pdf", "receipt.pdf"]
    with Session(app.engine) as session:
        assert len(session.exec(select(Ticket)).all()) == 1
    # One receipt for the ticket; the agent hears of both messages, the second with its own attachment.
    assert outbox_kinds(app) == ["agent_notification", "agent_notification", "receipt"]
    to_customer = [m for m in sink.messages if "anna@example.org" in m.rcpt_tos]
    assert len(to_customer) == 1
    assert all_seen(dovecot, mailbox)


def test_the_same_bytes_under_two_uids_are_one_message_with_one_receipt(make_app, dovecot, sink, mailbox):
    app = make_app()
    raw = invoice_mail("receipt.pdf", RECEIPT_PDF)
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)
    [message] = messages(app)
    assert message.raw == raw
    assert outbox_kinds(app) == ["receipt"] and len(sink.messages) == 1
    assert len(dovecot.uids(SUPPORT_USER, mailbox)) == 2 and all_seen(dovecot, mailbox)


def test_a_copy_with_other_trace_headers_is_stored_on_its_twins_ticket_and_causes_nothing(
    make_app, dovecot, sink, mailbox
):
    other_folder = mailbox + "Copy"
    dovecot.create_folder(SUPPORT_USER, other_folder)
    app = make_app(extra=second_mailbox(dovecot, other_folder, "Customer service"))
    dovecot.append(SUPPORT_USER, mailbox, invoice_mail("receipt.pdf", RECEIPT_PDF))
    dovecot.append(SUPPORT_USER, other_folder, invoice_mail("receipt.pdf", RECEIPT_PDF, received="mx2.example.org"))
    run_once(app)
    first, copy = messages(app)
    assert first.raw != copy.raw and copy.ticket_id == first.ticket_id and copy.match_reason == "twin"
    assert outbox_kinds(app) == ["receipt"] and len(sink.messages) == 1
    assert all_seen(dovecot, mailbox) and all_seen(dovecot, other_folder)


def test_ingest_stores_both_twins_from_stdin_and_the_same_bytes_once(config_file, tmp_path):
    config = config_file()
    receipt, photo = invoice_mail("receipt.pdf", RECEIPT_PDF), invoice_mail("parcel.pdf", PHOTO_PDF)
    assert b"stored (message 1, ticket [#" in run_ingest(config, stdin=receipt).stdout
    second = run_ingest(config, stdin=photo)
    assert second.returncode == 0 and b"stored (message 2, ticket [#" in second.stdout
    again = run_ingest(config, stdin=photo)
    assert again.returncode == 0 and b"already stored (message 2)" in again.stdout
    first, twin = stored(tmp_path)
    assert first.ticket_id == twin.ticket_id and twin.match_reason == "twin"
    parsed = email.message_from_bytes(twin.raw, policy=policy.default)
    assert [part.get_filename() for part in parsed.iter_attachments()] == ["parcel.pdf"]


def test_twins_are_told_apart_on_sqlite_and_postgresql(any_db_app):
    from mailbridge.ingest.intake import accept
    from mailbridge.ingest.sources.imap import RawMail

    inbox = any_db_app.inbox(any_db_app.settings.mailboxes[0])
    now = any_db_app.clock.now()
    receipt, photo = invoice_mail("receipt.pdf", RECEIPT_PDF), invoice_mail("parcel.pdf", PHOTO_PDF)
    copy = invoice_mail("receipt.pdf", RECEIPT_PDF, received="mx2.example.org")
    results = [
        accept(inbox, RawMail("support", "INBOX", 7, uid, raw), now)
        for uid, raw in ((1, receipt), (2, photo), (3, copy), (4, photo))
    ]
    assert [r.already_stored for r in results] == [False, False, False, True]
    assert results[3].message_row_id == results[1].message_row_id
    assert len({r.ticket_number for r in results}) == 1 and results[0].is_new_ticket
    assert [m.match_reason for m in messages(any_db_app)] == ["new", "twin", "twin"]
    assert outbox_kinds(any_db_app) == ["receipt"]
