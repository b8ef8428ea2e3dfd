"""Issue 16: In-Reply-To and References join a ticket only for people in its conversation (Dovecot + SMTP sink).

A stranger copying the ids of someone else's thread, or writing under an agent's address, gets a ticket of their
own; a colleague's reply-all, written to the customer, stays in the thread.
"""

from __future__ import annotations

import email
from email import policy

from sqlmodel import Session, select

from mailbridge.store import agents, db
from mailbridge.store.models import Message, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_once

ANNA, EVE, BOB, MARIA = "anna@example.org", "eve@attacker.example", "bob@example.org", "maria@shop.example"


def _deliver(app, dovecot, mailbox, raw: bytes) -> None:
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)


def _ticket_of_last(app) -> tuple[int, str]:
    with Session(app.engine) as session:
        row = session.exec(select(Message).where(Message.direction == "in").order_by(Message.id.desc())).first()
        return row.ticket_id, row.match_reason


def _receipt_id(sink) -> str:
    return email.message_from_bytes(sink.messages[-1].data, policy=policy.default)["Message-ID"]


def test_a_stranger_copying_the_thread_ids_gets_a_ticket_of_their_own(make_app, dovecot, sink, mailbox):
    app = make_app()
    first = customer_mail(sender=ANNA, subject="My order 1234")
    _deliver(app, dovecot, mailbox, first)
    anna_ticket, _ = _ticket_of_last(app)
    receipt = _receipt_id(sink)
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session, email=MARIA, name="Maria", locale=None, contacts=["Customer service"], now=app.clock.now()
        )

    for sender in (EVE, MARIA):  # a stranger, and a stranger writing under an agent's address
        forged = customer_mail(sender=sender, subject="Re: My order 1234", in_reply_to=receipt)
        _deliver(app, dovecot, mailbox, forged)
        ticket_id, reason = _ticket_of_last(app)
        assert ticket_id != anna_ticket and reason == "new", sender

    # Anna herself, replying to the receipt, stays in her ticket.
    _deliver(app, dovecot, mailbox, customer_mail(sender=ANNA, subject="Re: My order 1234", in_reply_to=receipt))
    assert _ticket_of_last(app) == (anna_ticket, "in_reply_to")


def test_a_colleagues_reply_all_to_the_customer_stays_in_the_thread(make_app, dovecot, sink, mailbox):
    app = make_app()
    first = customer_mail(sender=ANNA, subject="Invoice for our office", headers={"Cc": BOB})
    _deliver(app, dovecot, mailbox, first)
    anna_ticket, _ = _ticket_of_last(app)
    with Session(app.engine) as session:
        first_id = session.exec(select(Message.message_id).where(Message.ticket_id == anna_ticket)).first()
    reply_all = customer_mail(
        sender=BOB, subject="Re: Invoice for our office", in_reply_to=first_id, headers={"Cc": ANNA}
    )
    _deliver(app, dovecot, mailbox, reply_all)
    assert _ticket_of_last(app) == (anna_ticket, "in_reply_to")
    with Session(app.engine) as session:
        assert len(session.exec(select(Ticket)).all()) == 1
