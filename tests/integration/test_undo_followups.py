"""Issue 19 gaps of the undo window end to end on Dovecot + the SMTP sink: an answer taken back no longer makes
another agent's reply out of date, and an admin's `outbox cancel` of a waiting answer ends it as `#cancel` does."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from mailbridge.store.models import HeldAnswer, Message, OutboxMail
from tests.conftest import run_cli, run_once
from tests.integration.test_agents import LUCA, MARIA, NEW_TEXT
from tests.integration.test_undo import (
    LUCA_TEXT,
    WINDOW,
    answers_to_customer,
    first_notification,
    notices_to,
    open_desk,
    reply,
    the_ticket,
)


@pytest.fixture(params=["sqlite", "postgres"])
def waiting_desk(request, make_app, clock, dovecot, mailbox):
    """Agents Maria and Luca, one customer ticket, answers waiting 60 seconds; on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        return open_desk(make_app(extra=WINDOW), clock, dovecot, mailbox)
    url = request.getfixturevalue("postgres").create_database(f"w{abs(hash(request.node.nodeid)) % 10**8}")
    return open_desk(make_app(db_url=url, extra=WINDOW), clock, dovecot, mailbox)


def test_an_answer_taken_back_does_not_make_another_agents_reply_stale(make_app, clock, dovecot, mailbox, sink):
    app = open_desk(make_app(extra=WINDOW), clock, dovecot, mailbox)
    maria_saw = first_notification(sink, MARIA)
    clock.advance(minutes=1)
    reply(app, dovecot, mailbox, to_mail=first_notification(sink, LUCA), body=LUCA_TEXT, sender=LUCA)
    [confirmation] = notices_to(sink, LUCA, "reply #cancel")
    clock.advance(seconds=20)
    reply(app, dovecot, mailbox, to_mail=confirmation, body="#cancel", sender=LUCA)
    assert len(notices_to(sink, LUCA, "was taken back")) == 1
    clock.advance(minutes=1)
    # Maria answers the notification she had before Luca's answer: the customer never got his, so hers is not stale.
    reply(app, dovecot, mailbox, to_mail=maria_saw, body=NEW_TEXT)
    assert notices_to(sink, MARIA, "reply #send to send it anyway") == []
    assert len(notices_to(sink, MARIA, "reply #cancel")) == 1
    clock.advance(minutes=2)
    run_once(app)
    assert answers_to_customer(sink) == 1 and answers_to_customer(sink, LUCA_TEXT) == 0


def test_an_answer_that_went_out_still_makes_a_reply_stale(make_app, clock, dovecot, mailbox, sink):
    app = open_desk(make_app(extra=WINDOW), clock, dovecot, mailbox)
    maria_saw = first_notification(sink, MARIA)
    clock.advance(minutes=1)
    reply(app, dovecot, mailbox, to_mail=first_notification(sink, LUCA), body=LUCA_TEXT, sender=LUCA)
    clock.advance(minutes=2)
    run_once(app)
    assert answers_to_customer(sink, LUCA_TEXT) == 1
    reply(app, dovecot, mailbox, to_mail=maria_saw, body=NEW_TEXT)
    assert len(notices_to(sink, MARIA, "reply #send to send it anyway")) == 1


def test_outbox_cancel_of_a_waiting_answer_ends_it(waiting_desk, clock, dovecot, mailbox, sink):
    app = waiting_desk
    reply(app, dovecot, mailbox, to_mail=first_notification(sink, MARIA), body=f"{NEW_TEXT}\n\n#close")
    with Session(app.engine) as session:
        [held] = session.exec(select(HeldAnswer)).all()
    number = the_ticket(app).number
    result = run_cli("outbox", "cancel", str(held.outbox_id), "--actor", "admin:ops", config=app.settings.path)
    assert result.returncode == 0, result.stderr
    with Session(app.engine) as session:
        ended = session.get(HeldAnswer, held.id)
        assert ended.state == "cancelled" and ended.finished_at is not None
        assert session.get(OutboxMail, held.outbox_id).status == "cancelled"
        assert session.get(Message, held.copy_message_id).kind == "agent_note"  # kept as a note
    again = run_cli("tickets", "cancel", number, config=app.settings.path, clock=clock)
    assert again.returncode == 1
    assert again.stderr.strip().endswith(f"ticket {number} has no answer waiting to be sent")
    clock.advance(minutes=2)
    run_once(app)
    assert answers_to_customer(sink) == 0
    assert the_ticket(app).status == "new"  # the #close it carried went with it
    shown = run_cli("tickets", "show", number, config=app.settings.path, clock=clock).stdout
    assert f"outbox {held.outbox_id} cancelled; the answer is kept as a note" in shown


@pytest.mark.parametrize("taken_back_by", ["tickets cancel", "outbox cancel"])
def test_outbox_retry_refuses_an_answer_taken_back(taken_back_by, make_app, clock, dovecot, mailbox, sink):
    app = open_desk(make_app(extra=WINDOW), clock, dovecot, mailbox)
    reply(app, dovecot, mailbox, to_mail=first_notification(sink, MARIA), body=f"{NEW_TEXT}\n\n#close")
    with Session(app.engine) as session:
        [held] = session.exec(select(HeldAnswer)).all()
    number, outbox_id = the_ticket(app).number, str(held.outbox_id)
    args = ("tickets", "cancel", number) if taken_back_by == "tickets cancel" else ("outbox", "cancel", outbox_id)
    assert run_cli(*args, config=app.settings.path, clock=clock).returncode == 0

    result = run_cli("outbox", "retry", outbox_id, config=app.settings.path, clock=clock)
    assert result.returncode == 1 and result.stdout == ""
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            f"outbox item {outbox_id} is an agent's answer taken back in its undo window (kept as a note on ticket "
            f"{number}): it is never sent; answer the ticket again instead"
        )
    )
    clock.advance(minutes=2)
    run_once(app)
    assert answers_to_customer(sink) == 0
    with Session(app.engine) as session:
        assert session.get(OutboxMail, held.outbox_id).status == "cancelled"
        assert session.get(HeldAnswer, held.id).state == "cancelled"
    assert the_ticket(app).status == "new"
