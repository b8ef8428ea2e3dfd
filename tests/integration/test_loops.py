"""Mail loops: automatic mail never answers automatic mail, and limits stop what slips through."""

from __future__ import annotations

from sqlmodel import Session, select

from mailbridge.store.models import OutboxMail
from tests.conftest import SUPPORT_USER, customer_mail, run_once


def automatic_rows(app) -> list[OutboxMail]:
    with Session(app.engine) as session:
        return list(session.exec(select(OutboxMail).where(OutboxMail.is_automatic)))


def test_two_auto_responders_exchange_at_most_one_automatic_message(make_app, dovecot, sink, mailbox):
    # The "customer" is another helpdesk that answers everything it receives, without marking it automatic.
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="helpdesk@other.example", name="Other desk"))
    for _ in range(5):
        run_once(app)
        for received in sink.messages:
            answer = customer_mail(
                sender="helpdesk@other.example",
                name="Other desk",
                subject="Re: " + received.message["Subject"],
                body="We got your mail.",
                in_reply_to=received.message["Message-ID"],
            )
            dovecot.append(SUPPORT_USER, mailbox, answer)
        sink.clear()
    assert len(automatic_rows(app)) == 1


def test_receipt_from_another_mailbridge_gets_no_receipt(make_app, dovecot, sink, mailbox):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [receipt] = sink.messages
    sink.clear()
    # The same receipt, as if it arrived at a second mailbridge from the first one.
    foreign = receipt.data.replace(b"support@shop.example", b"help@elsewhere.example")
    dovecot.append(SUPPORT_USER, mailbox, foreign)
    run_once(app)
    assert sink.messages == []


def test_at_most_ten_receipts_a_day_to_one_address(make_app, dovecot, sink, mailbox, clock):
    app = make_app()
    for n in range(12):
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject=f"Question {n}"))
        clock.advance(minutes=11)
        run_once(app)
    assert len(sink.messages) == 10
    clock.advance(days=1)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Next day"))
    run_once(app)
    assert len(sink.messages) == 11


def test_flooding_sender_gets_no_automatic_mail_for_thirty_minutes(make_app, dovecot, sink, mailbox, clock):
    app = make_app(
        extra="[limits]\nmax_auto_replies_per_address_per_day = 100\n",
        extra_support='admin_address = "admin@shop.example"',
    )
    for n in range(17):
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="bot@flood.example", subject=f"Spam {n}"))
    run_once(app)
    to_admin = [m for m in sink.messages if m.rcpt_tos == ("admin@shop.example",)]
    assert len(to_admin) == 1 and "bot@flood.example is flooding" in to_admin[0].message["Subject"]
    sent_during_flood = len(sink.messages) - 1
    assert sent_during_flood == 15
    clock.advance(minutes=31)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="bot@flood.example", subject="Calm again"))
    run_once(app)
    assert len(sink.messages) == sent_during_flood + 2
