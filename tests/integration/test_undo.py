"""Issue 19 (points 3 and 4) end to end on Dovecot + the SMTP sink: an agent's answer waits out the undo window
(`[agents] send_delay_seconds`) and can be taken back by `#cancel` or `tickets cancel`; an answer to an out-of-date
notification is held until `#send`; the other agents hear once that someone took a ticket.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from mailbridge.service import answer_window
from mailbridge.store import agents, db
from mailbridge.store.models import HeldAnswer, Message, OutboxMail, Ticket
from tests.conftest import customer_mail, run_cli, run_once
from tests.integration.test_agents import (
    CUSTOMER,
    LUCA,
    MARIA,
    NEW_TEXT,
    agent_mail,
    deliver,
    reply_to_of,
    text_of,
    to,
)

WINDOW = "[agents]\nsend_delay_seconds = 60\n"
LUCA_TEXT = "Luca here: a new parcel is on its way, tracking TR-9001."


def open_desk(app, clock, dovecot, mailbox):
    with db.transaction(app.engine) as session:
        for address, name in ((MARIA, "Maria Rossi"), (LUCA, "Luca Bianchi")):
            agents.add_agent(
                session=session, email=address, name=name, locale=None, contacts=["Customer service"], now=clock.now()
            )
    deliver(app, dovecot, mailbox, customer_mail())
    return app


@pytest.fixture(params=["sqlite", "postgres"])
def window_desk(request, make_app, clock, dovecot, mailbox):
    """Agents Maria and Luca, one customer ticket, answers waiting 60 seconds; on SQLite, then on PostgreSQL (where
    the claim's row locks make the release once)."""
    if request.param == "sqlite":
        return open_desk(make_app(extra=WINDOW), clock, dovecot, mailbox)
    url = request.getfixturevalue("postgres").create_database(f"u{abs(hash(request.node.nodeid)) % 10**8}")
    return open_desk(make_app(db_url=url, extra=WINDOW), clock, dovecot, mailbox)


@pytest.fixture
def desk(make_app, clock, dovecot, mailbox):
    """Agents Maria and Luca, one customer ticket, answers relayed at once (the tests' default)."""
    return open_desk(make_app(), clock, dovecot, mailbox)


def the_ticket(app) -> Ticket:
    with Session(app.engine) as session:
        return session.exec(select(Ticket).order_by(Ticket.id)).first()


def answers_to_customer(sink, text: str = NEW_TEXT) -> int:
    return sum(1 for m in to(sink, CUSTOMER) if text in text_of(m))


def notices_to(sink, agent: str, words: str) -> list:
    return [m for m in to(sink, agent) if words in text_of(m)]


def first_notification(sink, agent: str):
    return [m for m in to(sink, agent) if m["Reply-To"] is not None][0]


def reply(app, dovecot, mailbox, *, to_mail, body: str, sender: str = MARIA) -> None:
    raw = agent_mail(sender=sender, to_address=reply_to_of(to_mail), body=body, notification=to_mail)
    deliver(app, dovecot, mailbox, raw)


def test_confirmation_says_the_time_in_the_contacts_own_zone(make_app, clock, dovecot, mailbox, sink):
    tokyo = (
        WINDOW + '[sla]\ntimezone = "America/New_York"\n[sla.contacts."Customer service"]\ntimezone = "Asia/Tokyo"\n'
    )
    app = open_desk(make_app(extra=tokyo), clock, dovecot, mailbox)
    reply(app, dovecot, mailbox, to_mail=first_notification(sink, MARIA), body=NEW_TEXT)
    [confirmation] = notices_to(sink, MARIA, "reply #cancel to take it back")
    assert "goes out at 18:01 (JST)" in text_of(confirmation) and "UTC" not in text_of(confirmation)


def test_answer_waits_in_the_window_then_goes_with_its_close_and_survey(window_desk, clock, dovecot, mailbox, sink):
    app = window_desk
    reply(app, dovecot, mailbox, to_mail=first_notification(sink, MARIA), body=f"{NEW_TEXT}\n\n#close")
    assert answers_to_customer(sink) == 0
    assert the_ticket(app).status == "new"  # the close waits with the answer
    [confirmation] = notices_to(sink, MARIA, "reply #cancel to take it back")
    assert "goes out at 10:01 (CET)" in text_of(confirmation) and confirmation["Reply-To"] is not None
    clock.advance(seconds=30)
    run_once(app)
    assert answers_to_customer(sink) == 0
    clock.advance(seconds=31)
    run_once(app)
    assert answers_to_customer(sink) == 1
    ticket = the_ticket(app)
    assert ticket.status == "closed" and ticket.first_response_at is not None
    assert len([m for m in to(sink, CUSTOMER) if "rate" in text_of(m).lower()]) == 1  # the survey, once
    # A second sender holding the same claim releases nothing again.
    with db.transaction(app.engine) as session:
        [held] = session.exec(select(HeldAnswer)).all()
        assert held.state == "released"
        assert (
            answer_window.release_claimed(app.mail, session=session, outbox_ids=[held.outbox_id], now=clock.now()) == 0
        )
    run_once(app)
    assert answers_to_customer(sink) == 1
    assert len([m for m in to(sink, CUSTOMER) if "rate" in text_of(m).lower()]) == 1


def test_cancel_in_a_reply_to_the_confirmation_recalls_the_answer(window_desk, clock, dovecot, mailbox, sink):
    app = window_desk
    reply(app, dovecot, mailbox, to_mail=first_notification(sink, MARIA), body=f"{NEW_TEXT}\n\n#close")
    [confirmation] = notices_to(sink, MARIA, "reply #cancel")
    clock.advance(seconds=20)
    reply(app, dovecot, mailbox, to_mail=confirmation, body="#cancel")
    assert len(notices_to(sink, MARIA, "was taken back")) == 1
    clock.advance(minutes=5)
    run_once(app)
    assert answers_to_customer(sink) == 0
    assert the_ticket(app).status == "new"
    with Session(app.engine) as session:
        [held] = session.exec(select(HeldAnswer)).all()
        assert held.state == "cancelled"
        assert session.get(OutboxMail, held.outbox_id).status == "cancelled"
        assert session.get(Message, held.copy_message_id).kind == "agent_note"  # kept as a note
    # Too late now: a later answer went out, and #cancel says when.
    reply(app, dovecot, mailbox, to_mail=confirmation, body="Second try: parcel left today.")
    clock.advance(seconds=61)
    run_once(app)
    assert answers_to_customer(sink, "Second try") == 1
    reply(app, dovecot, mailbox, to_mail=confirmation, body="#cancel")
    assert len(notices_to(sink, MARIA, "can no longer be taken back: it was sent at 10:06 (CET)")) == 1


def test_tickets_cancel_recalls_the_waiting_answer(window_desk, clock, dovecot, mailbox, sink):
    app = window_desk
    reply(app, dovecot, mailbox, to_mail=first_notification(sink, MARIA), body=NEW_TEXT)
    number = the_ticket(app).number
    result = run_cli("tickets", "cancel", number, config=app.settings.path, clock=clock)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{number} 1 answer taken back"
    again = run_cli("tickets", "cancel", number, config=app.settings.path, clock=clock)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.strip().endswith(f"ticket {number} has no answer waiting to be sent")
    clock.advance(minutes=2)
    run_once(app)
    assert answers_to_customer(sink) == 0
    assert len(notices_to(sink, MARIA, "was taken back")) == 1
    assert the_ticket(app).status == "new"


def test_stale_reply_is_held_until_send(desk, clock, dovecot, mailbox, sink):
    app = desk
    maria_saw = first_notification(sink, MARIA)
    clock.advance(minutes=1)
    reply(app, dovecot, mailbox, to_mail=first_notification(sink, LUCA), body=LUCA_TEXT, sender=LUCA)
    assert answers_to_customer(sink, LUCA_TEXT) == 1
    clock.advance(minutes=1)
    reply(app, dovecot, mailbox, to_mail=maria_saw, body=NEW_TEXT)
    assert answers_to_customer(sink) == 0
    [held] = notices_to(sink, MARIA, "reply #send to send it anyway")
    assert "Luca Bianchi answered ticket" in text_of(held) and "at 10:01 (CET)" in text_of(held)
    with Session(app.engine) as session:
        assert session.exec(select(Message).where(Message.kind == "agent_note")).one().stripped_text == NEW_TEXT
    clock.advance(minutes=1)
    reply(app, dovecot, mailbox, to_mail=held, body="#send")
    assert answers_to_customer(sink) == 1
    assert answers_to_customer(sink, LUCA_TEXT) == 1
    reply(app, dovecot, mailbox, to_mail=held, body="#send")  # nothing more is held
    assert answers_to_customer(sink) == 1
    assert len(notices_to(sink, MARIA, "is held back: nothing was sent")) == 1


def test_reassignment_makes_a_reply_stale_and_a_newer_mail_is_answered_at_once(desk, clock, dovecot, mailbox, sink):
    app = desk
    number = the_ticket(app).number
    maria_saw = first_notification(sink, MARIA)
    clock.advance(minutes=1)
    assert run_cli("tickets", "assign", number, LUCA, config=app.settings.path, clock=clock).returncode == 0
    clock.advance(minutes=1)
    reply(app, dovecot, mailbox, to_mail=maria_saw, body=NEW_TEXT)
    assert answers_to_customer(sink) == 0
    [held] = notices_to(sink, MARIA, "reply #send to send it anyway")
    assert "was assigned to Luca Bianchi at 10:01 (CET)" in text_of(held)
    # Given the ticket back, Maria answers the assignment's mail, written after every change: relayed at once.
    clock.advance(minutes=1)
    assert run_cli("tickets", "assign", number, MARIA, config=app.settings.path, clock=clock).returncode == 0
    assigned = [m for m in to(sink, MARIA) if m["Reply-To"] is not None][-1]
    clock.advance(minutes=1)
    reply(app, dovecot, mailbox, to_mail=assigned, body="Fresh answer after the reassignment.")
    assert answers_to_customer(sink, "Fresh answer") == 1
    assert answers_to_customer(sink) == 0  # the held one still waits for #send


def test_the_other_agents_hear_once_that_a_ticket_was_taken(desk, clock, dovecot, mailbox, sink):
    app = desk
    clock.advance(minutes=1)
    reply(app, dovecot, mailbox, to_mail=first_notification(sink, LUCA), body=LUCA_TEXT, sender=LUCA)
    clock.advance(minutes=1)
    reply(app, dovecot, mailbox, to_mail=first_notification(sink, LUCA), body="And a second answer.", sender=LUCA)
    assert answers_to_customer(sink, "second answer") == 1
    assert len(notices_to(sink, MARIA, "took ticket")) == 1
    assert notices_to(sink, LUCA, "took ticket") == []
