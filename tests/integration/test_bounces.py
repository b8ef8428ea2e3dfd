"""Bounces and out-of-office replies: recognised, attached, never answered, and remembered."""

from __future__ import annotations

from sqlmodel import Session, select

from mailbridge.store.models import AddressSuppression, Message, OutboxMail, Ticket, TicketEvent
from tests.conftest import SUPPORT_USER, customer_mail, run_once


def dsn_for(original: bytes, failed: str, action: bytes = b"failed", status: bytes = b"5.1.1") -> bytes:
    """A RFC 3464 delivery status notification as Postfix writes one."""
    returned_headers = original.split(b"\r\n\r\n")[0]
    return b"\r\n".join(
        [
            b"From: MAILER-DAEMON@mx.example.org (Mail Delivery System)",
            b"To: " + SUPPORT_USER.encode(),
            b"Subject: Undelivered Mail Returned to Sender",
            b"Auto-Submitted: auto-replied",
            b"Message-ID: <dsn-1@mx.example.org>",
            b"MIME-Version: 1.0",
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
            b"",
            b"--b1",
            b"Content-Type: text/plain",
            b"",
            b"I'm sorry to have to inform you that your message could not be delivered.",
            b"",
            b"--b1",
            b"Content-Type: message/delivery-status",
            b"",
            b"Reporting-MTA: dns; mx.example.org",
            b"",
            b"Final-Recipient: rfc822; " + failed.encode(),
            b"Action: " + action,
            b"Status: " + status,
            b"Diagnostic-Code: smtp; "
            + (b"550 5.1.1 user unknown" if status[:1] == b"5" else b"452 4.2.2 mailbox full"),
            b"",
            b"--b1",
            b"Content-Type: text/rfc822-headers",
            b"",
            returned_headers,
            b"",
            b"--b1--",
            b"",
        ]
    )


def test_bounce_of_a_receipt_marks_it_bounced_and_suppresses_the_address(make_app, dovecot, sink, mailbox, clock):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="gone@example.org"))
    run_once(app)
    [receipt] = sink.messages
    dovecot.append(SUPPORT_USER, mailbox, dsn_for(receipt.data, "gone@example.org"))
    run_once(app)
    with Session(app.engine) as session:
        [row] = session.exec(select(OutboxMail))
        [ticket] = session.exec(select(Ticket))
        bounce = session.exec(select(Message).where(Message.kind == "bounce")).one()
        suppression = session.exec(select(AddressSuppression)).one()
        events = [e.kind for e in session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))]
    assert row.status == "bounced" and bounce.ticket_id == ticket.id and ticket.status == "new"
    assert suppression.address == "gone@example.org" and suppression.reason == "bounced"
    assert "mail_bounced" in events
    assert len(sink.messages) == 1
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="gone@example.org", subject="Another question"))
    clock.advance(days=59)
    run_once(app)
    assert len(sink.messages) == 1
    clock.advance(days=2)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="gone@example.org", subject="Much later"))
    run_once(app)
    assert len(sink.messages) == 2


def test_out_of_office_reply_is_stored_on_the_ticket_without_any_change(make_app, dovecot, sink, mailbox):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [receipt] = sink.messages
    dovecot.append(
        SUPPORT_USER,
        mailbox,
        customer_mail(
            subject="Out of office: " + receipt.message["Subject"],
            body="I am away until Monday.",
            in_reply_to=receipt.message["Message-ID"],
            headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    run_once(app)
    with Session(app.engine) as session:
        [ticket] = session.exec(select(Ticket))
        kinds = [m.kind for m in session.exec(select(Message).where(Message.ticket_id == ticket.id))]
    assert kinds == ["customer", "auto_reply"] and ticket.status == "new"
    assert len(sink.messages) == 1


def test_delayed_delivery_report_neither_suppresses_nor_marks_the_mail_bounced(make_app, dovecot, sink, mailbox):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="full@example.org"))
    run_once(app)
    [receipt] = sink.messages
    # A sendmail-style report: the prose says "unrecoverable error", the RFC 3464 fields say 4.2.2 (mailbox full).
    for n, (action, status) in enumerate([(b"delayed", b"4.4.7"), (b"failed", b"4.2.2")]):
        dsn = dsn_for(receipt.data, "full@example.org", action, status).replace(
            b"I'm sorry", b"<full@example.org>  (unrecoverable error)\r\n\r\nI'm sorry"
        )
        dovecot.append(SUPPORT_USER, mailbox, dsn.replace(b"<dsn-1@", f"<dsn-delay-{n}@".encode()))
    run_once(app)
    with Session(app.engine) as session:
        [row] = session.exec(select(OutboxMail))
        [ticket] = session.exec(select(Ticket))
        bounces = session.exec(select(Message).where(Message.kind == "bounce")).all()
        reasons = [e.reason for e in session.exec(select(TicketEvent).where(TicketEvent.kind == "mail_bounced"))]
        suppressed = session.exec(select(AddressSuppression)).all()
    assert row.status == "sent" and suppressed == []
    assert len(bounces) == 2 and all(b.ticket_id == ticket.id for b in bounces)
    assert reasons and all(r.endswith("delivery to full@example.org delayed") for r in reasons)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="full@example.org", subject="Another question"))
    run_once(app)
    assert len(sink.messages) == 2
