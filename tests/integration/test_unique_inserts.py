"""INSERT … ON CONFLICT DO NOTHING for ticket numbers and outbox keys, on SQLite and on PostgreSQL."""

from __future__ import annotations

from email.message import EmailMessage

from sqlmodel import select

from mailbridge.store import db, outbox_queue, tickets
from mailbridge.store.models import OutboxMail, Ticket
from tests.conftest import FixedClock

NOW = FixedClock().now()


def small_mail(subject: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "s@shop.example", "a@example.org", subject
    mail["Message-ID"] = f"<{subject}@shop.example>"
    mail.set_content("hello")
    return mail


def test_a_drawn_ticket_number_that_is_taken_is_drawn_again(any_db_app, monkeypatch):
    with db.transaction(any_db_app.engine) as session:
        customer = tickets.ensure_customer(session=session, email="a@example.org", name="A", now=NOW)
        contact_id = next(iter(any_db_app.contact_ids.values()))
        first = tickets.open_ticket(session=session, contact_id=contact_id, customer=customer, subject="one", now=NOW)
        draws = iter([first.number, first.number, "10000000011"])
        monkeypatch.setattr(tickets, "new_ticket_number", lambda: next(draws))
        second = tickets.open_ticket(session=session, contact_id=contact_id, customer=customer, subject="two", now=NOW)
    with db.transaction(any_db_app.engine) as session:
        stored = {t.subject: t.number for t in session.exec(select(Ticket))}
    assert second.number == "10000000011" and second.id != first.id
    assert stored == {"one": first.number, "two": "10000000011"}


def test_an_outbox_key_that_is_taken_writes_nothing_and_returns_the_first_row(any_db_app):
    with db.transaction(any_db_app.engine) as session:
        first = outbox_queue.enqueue(
            session=session,
            mail=small_mail("first"),
            sign=any_db_app.mail.sign,
            dedupe_key="receipt:1",
            kind="receipt",
            ticket_id=None,
            now=NOW,
        )
    with db.transaction(any_db_app.engine) as session:
        again = outbox_queue.enqueue(
            session=session,
            mail=small_mail("second"),
            sign=any_db_app.mail.sign,
            dedupe_key="receipt:1",
            kind="receipt",
            ticket_id=None,
            now=NOW,
        )
        # The very same mail again (same key, same Message-ID) is no error either.
        same = outbox_queue.enqueue(
            session=session,
            mail=small_mail("first"),
            sign=any_db_app.mail.sign,
            dedupe_key="receipt:1",
            kind="receipt",
            ticket_id=None,
            now=NOW,
        )
        other = outbox_queue.enqueue(
            session=session,
            mail=small_mail("other"),
            sign=any_db_app.mail.sign,
            dedupe_key="receipt:2",
            kind="receipt",
            ticket_id=None,
            now=NOW,
        )
    with db.transaction(any_db_app.engine) as session:
        subjects = [row.subject for row in session.exec(select(OutboxMail).order_by(OutboxMail.id))]
    assert again == same == first and other != first
    assert subjects == ["first", "other"]
