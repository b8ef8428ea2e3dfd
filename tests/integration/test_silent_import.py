"""`mailbridge ingest FILE.mbox` sends nothing: customer mail, an agent's answer to a notification and a survey
click from an archive are stored and recorded, and the SMTP sink receives no mail (Dovecot + the SMTP sink)."""

from __future__ import annotations

import mailbox as mailboxes
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailbridge.decisions.matching.reply_tokens import AGENT, make_token, reply_address
from mailbridge.decisions.survey import RATING, rate_address
from mailbridge.runtime.app import App
from mailbridge.store import agents, db
from mailbridge.store.models import Agent, Message, OutboxMail, Rating, Ticket, TicketEvent
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.integration.test_agents import NEW_TEXT, agent_mail, notification_for

MARIA = "maria@shop.example"
SECRET = "test-secret-for-reply-tokens"  # what the config_file fixture puts in MAILBRIDGE_TEST_SECRET


@pytest.fixture
def desk(make_app, clock, dovecot, mailbox, sink) -> App:
    """Agent Maria in "Customer service" and one ticket from Anna, received live: receipt and notification sent."""
    app = make_app()
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session,
            email=MARIA,
            name="Maria Rossi",
            locale=None,
            contacts=["Customer service"],
            now=clock.now(),
        )
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    assert len(sink.messages) == 2  # the receipt and Maria's notification
    return app


def archive(tmp_path: Path, app: App, clock, sink) -> Path:
    """An mbox with new customer mail, Maria's answer to her notification and Anna's survey click (5 of 5)."""
    with Session(app.engine) as session:
        ticket = session.exec(select(Ticket)).one()
        maria = session.exec(select(Agent).where(Agent.email == MARIA)).one()
    notification = notification_for(sink, MARIA)
    agent_token = make_token(ticket.id, SECRET, purpose=AGENT, agent_id=maria.id, issued_day=clock.now().date())
    answer = agent_mail(
        sender=MARIA,
        to_address=reply_address(SUPPORT_USER, agent_token),
        body=NEW_TEXT,
        notification=notification,
    )
    rating_token = make_token(ticket.id, SECRET, purpose=RATING, issued_day=clock.now().date())
    click = customer_mail(subject="My rating 5/5", body="Thanks!").replace(
        f"To: {SUPPORT_USER}".encode(), f"To: {rate_address(SUPPORT_USER, rating_token, 5)}".encode()
    )
    new_customer = customer_mail(sender="bob@example.net", name="Bob", subject="Invoice missing", body="Where is it?")
    path = tmp_path / "archive.mbox"
    mbox = mailboxes.mbox(path, create=True)
    for raw in (new_customer, answer, click):
        mbox.add(raw.replace(b"\r\n", b"\n"))
    mbox.flush()
    return path


def outbox_rows(app: App) -> int:
    with Session(app.engine) as session:
        return len(session.exec(select(OutboxMail)).all())


def events(app: App, kind: str) -> list[TicketEvent]:
    with Session(app.engine) as session:
        return list(session.exec(select(TicketEvent).where(TicketEvent.kind == kind)))


def test_import_of_an_archive_stores_everything_and_sends_nothing(desk, clock, config_file, sink, tmp_path):
    path = archive(tmp_path, desk, clock, sink)
    queued = outbox_rows(desk)
    sink.clear()

    result = run_cli("ingest", str(path), config=config_file(), clock=clock)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "stored 3, duplicate 0, flagged 0, not stored 0, failed 0"
    run_once(desk)  # the daemon's next cycle: whatever was queued would be sent now

    assert sink.messages == []
    assert outbox_rows(desk) == queued
    with Session(desk.engine) as session:
        anna_ticket = session.exec(select(Ticket).where(Ticket.subject == "Order 1234 not arrived")).one()
        bob_ticket = session.exec(select(Ticket).where(Ticket.subject == "Invoice missing")).one()
        answer = session.exec(select(Message).where(Message.from_addr == MARIA)).one()
        assert (answer.kind, answer.ticket_id) == ("agent_reply_in", anna_ticket.id)
        [rating] = session.exec(select(Rating)).all()
        assert (rating.ticket_id, rating.score) == (anna_ticket.id, 5)
        assert bob_ticket.id != anna_ticket.id
    [suppressed] = events(desk, "mail_suppressed")
    assert suppressed.ticket_id == anna_ticket.id and "stored, nothing is sent" in suppressed.reason
    assert len(events(desk, "rated")) == 1
    assert events(desk, "agent_answered") == []


def test_import_with_receipts_sends_receipts_but_never_relays_an_archived_answer(
    desk, clock, config_file, sink, tmp_path
):
    path = archive(tmp_path, desk, clock, sink)
    sink.clear()

    result = run_cli("ingest", "--receipts", str(path), config=config_file(), clock=clock)
    assert result.returncode == 0, result.stderr
    run_once(desk)

    recipients = sorted(address for m in sink.messages for address in m.rcpt_tos)
    # Bob's receipt and Maria's notification of Bob's ticket; no relay to Anna, no thanks for her rating.
    assert recipients == ["bob@example.net", MARIA]
    assert not any(NEW_TEXT.encode() in m.data for m in sink.messages)
    assert len(events(desk, "mail_suppressed")) == 1
