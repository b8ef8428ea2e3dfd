"""Issue 14: a mail an agent wrote that cannot go out is held with the reason, and the agent is told by mail.

Real Dovecot and the SMTP sink: the sink refuses the customer's address (550) or a DSN comes back later.
"""

from __future__ import annotations

from sqlmodel import Session, select

from mailbridge.decisions.kinds import MailKind, OutboxStatus
from mailbridge.store.models import OutboxMail, TicketEvent
from tests.conftest import run_once
from tests.integration.test_agents import (
    CUSTOMER,
    MARIA,
    NEW_TEXT,
    agent_mail,
    answer,
    deliver,
    desk,  # noqa: F401 - the fixture
    notification_for,
    reply_to_of,
    text_of,
    to,
)
from tests.integration.test_bounces import dsn_for


def _rows(app, kind: MailKind) -> list[OutboxMail]:
    with Session(app.engine) as session:
        return list(session.exec(select(OutboxMail).where(OutboxMail.kind == kind)))


def _undelivered_notices(sink) -> list[str]:
    return [text_of(m) for m in to(sink, MARIA) if "was not delivered" in text_of(m)]


def test_refused_answer_is_held_and_the_agent_is_told_once(desk, dovecot, mailbox, sink):  # noqa: F811
    sink.fail_next("RCPT", 550, "5.1.1 mailbox unavailable")
    answer(desk, dovecot, mailbox, sink, NEW_TEXT)

    [row] = _rows(desk, MailKind.AGENT_REPLY)
    assert row.status == OutboxStatus.HELD
    assert "550" in row.last_error
    [notice] = _undelivered_notices(sink)
    assert CUSTOMER in notice and "550" in notice and f"outbox retry {row.id}" in notice
    assert not [m for m in to(sink, CUSTOMER) if NEW_TEXT in text_of(m)]
    with Session(desk.engine) as session:
        reasons = [e.reason for e in session.exec(select(TicketEvent).where(TicketEvent.kind == "mail_failed"))]
    assert any("held" in r and "550" in r for r in reasons)

    # Another cycle sends nothing more: one notice per failure.
    run_once(desk)
    assert len(_undelivered_notices(sink)) == 1


def test_bounced_answer_tells_the_agent_who_wrote_it(desk, dovecot, mailbox, sink):  # noqa: F811
    answer(desk, dovecot, mailbox, sink, NEW_TEXT)
    [relayed] = [m for m in sink.messages if NEW_TEXT.encode() in m.data.replace(b"=\r\n", b"")]
    deliver(desk, dovecot, mailbox, dsn_for(relayed.data, CUSTOMER))

    [row] = _rows(desk, MailKind.AGENT_REPLY)
    assert row.status == OutboxStatus.BOUNCED
    [notice] = _undelivered_notices(sink)
    assert "returned by the receiving server" in notice and CUSTOMER in notice


def test_forward_to_an_unwritable_address_is_refused_with_a_reason(desk, dovecot, mailbox, sink):  # noqa: F811
    notification = notification_for(sink, MARIA)
    body = "#forward courier@@example.com\nPlease check the parcel."
    deliver(
        desk,
        dovecot,
        mailbox,
        agent_mail(sender=MARIA, to_address=reply_to_of(notification), body=body, notification=notification),
    )
    assert not _rows(desk, MailKind.AGENT_FORWARD)
    refusals = [text_of(m) for m in to(sink, MARIA) if "Nothing was sent" in text_of(m)]
    assert refusals and "courier@@example.com" in refusals[-1]
