"""A large sync: parsed in a worker process, stored one batch per transaction, marked after the commit."""

from __future__ import annotations

from sqlmodel import Session, select

from mailbridge.ingest import intake
from mailbridge.store.models import IntakeFailure, Message, OutboxMail, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_once

QUOTED = "Thanks, that helps.\n\nOn Mon, 23 Nov 2026, Shop support wrote:\n> Please send the order number.\n"


def rows(app, model):
    with Session(app.engine) as session:
        return list(session.exec(select(model).order_by(model.id)))


def test_large_sync_is_stored_once_each_with_replies_threaded(any_db_app, dovecot, sink, mailbox):
    app = any_db_app
    for n in range(30):
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender=f"c{n}@example.org", subject=f"Order {n}"))
    for n in range(5):
        # Replies in the same batch as the mail they answer: they must find its ticket before the commit.
        dovecot.append(
            SUPPORT_USER, mailbox, customer_mail(sender=f"c{n}@example.org", subject=f"Re: Order {n}", body=QUOTED)
        )
    run_once(app)
    assert app.preparer.is_running  # 35 messages: parsed by the worker process
    stored = rows(app, Message)
    assert len(stored) == 35 and len(rows(app, Ticket)) == 30
    assert [m.stripped_text for m in stored[30:]] == ["Thanks, that helps."] * 5
    assert len({m.ticket_id for m in stored}) == 30
    assert len(rows(app, OutboxMail)) == 30 and len(sink.messages) == 30
    assert all("\\Seen" in flags for flags in dovecot.flags(SUPPORT_USER, mailbox).values())
    run_once(app)
    assert len(rows(app, Message)) == 35 and len(sink.messages) == 30
    app.preparer.close()


def test_message_breaking_intake_in_a_batch_leaves_the_others_stored(make_app, dovecot, sink, mailbox, monkeypatch):
    app = make_app()
    uids = [
        dovecot.append(
            SUPPORT_USER,
            mailbox,
            customer_mail(sender=f"c{n}@example.org", subject="Poison" if n == 2 else f"Order {n}"),
        )
        for n in range(5)
    ]
    real = intake.classify

    def classify(parsed, *args):
        if parsed.subject == "Poison":
            raise ValueError("classifier bug")
        return real(parsed, *args)

    monkeypatch.setattr(intake, "classify", classify)
    run_once(app)
    assert sorted(m.subject for m in rows(app, Message)) == ["Order 0", "Order 1", "Order 3", "Order 4"]
    flags = dovecot.flags(SUPPORT_USER, mailbox)
    assert ["\\Seen" in flags[uid] for uid in uids] == [True, True, False, True, True]
    [failure] = rows(app, IntakeFailure)
    assert failure.uid == uids[2] and failure.failures == 1 and "classifier bug" in failure.last_error
    assert len(sink.messages) == 4
