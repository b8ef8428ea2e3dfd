"""Issue 19 as a stranger tried it (IMAP in, SMTP out): an action that takes a ticket tells the other agents, a
notification of a Cc person's message names who wrote, and a short German mail gets a German receipt."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

from mailbridge.base.clock import FixedClock
from mailbridge.store import agents, db
from tests.conftest import SUPPORT_USER, customer_mail
from tests.integration.test_actions_topics import ACTIONS
from tests.integration.test_agents import LUCA, MARIA, answer, deliver, notification_for, text_of, the_ticket, to

CUSTOMER = "hans@example.de"
COLLEAGUE = "klaus@example.de"


@pytest.fixture
def desk(make_app, clock, dovecot, sink, mailbox):
    """Agents Maria and Luca (English), the shipped example actions, and a German customer's ticket with a colleague
    in Cc."""
    app = make_app(extra=ACTIONS)
    with db.transaction(app.engine) as session:
        for address, name in ((MARIA, "Maria Rossi"), (LUCA, "Luca Bianchi")):
            agents.add_agent(
                session=session, email=address, name=name, locale="en", contacts=["Customer service"], now=clock.now()
            )
    raw = customer_mail(
        sender=CUSTOMER,
        name="Hans Weber",
        subject="Paket beschädigt",
        body="Guten Tag, das Paket kam beschädigt an.",
        headers={"Cc": f'"Weber, Klaus" <{COLLEAGUE}>'},
    )
    deliver(app, dovecot, mailbox, raw)
    return app


def test_short_german_mail_gets_a_german_receipt(desk, sink):
    [receipt] = to(sink, CUSTOMER)
    assert "Ticket" in text_of(receipt) and "Guten Tag" in text_of(receipt)


def test_action_that_takes_the_ticket_tells_the_other_agents(desk, dovecot, mailbox, sink):
    answer(desk, dovecot, mailbox, sink, "#escalate\nPlease check the parcel photos.\n")
    assert the_ticket(desk).assigned_agent == MARIA
    [taken] = [m for m in to(sink, LUCA) if m["Reply-To"] is None]
    assert "Maria Rossi took ticket" in text_of(taken)
    assert not [m for m in to(sink, MARIA) if m["Reply-To"] is None and "took ticket" in text_of(m)]


def test_notification_of_a_cc_persons_message_names_them(desk, dovecot, mailbox, sink):
    ours = [m for m in to(sink, CUSTOMER)][-1]
    reply = EmailMessage()
    reply["From"] = f'"Weber, Klaus" <{COLLEAGUE}>'
    reply["To"] = ours["Reply-To"]
    reply["Cc"] = CUSTOMER
    reply["Subject"] = "AW: " + ours["Subject"]
    reply["Date"] = format_datetime(FixedClock().now())
    reply["Message-ID"] = make_msgid(domain="example.de")
    reply["In-Reply-To"] = ours["Message-ID"]
    reply.set_content("Gilt das auch für die zweite Lampe?")
    before = len(to(sink, MARIA))
    deliver(desk, dovecot, mailbox, reply.as_bytes())
    assert len(to(sink, MARIA)) == before + 1
    note = notification_for(sink, MARIA)
    assert text_of(note).splitlines()[0].startswith(f"New message from Weber, Klaus <{COLLEAGUE}>: [#")
    assert "zweite Lampe" in text_of(note)


def test_customers_own_message_keeps_the_plain_headline(desk, dovecot, mailbox, sink):
    ours = to(sink, CUSTOMER)[-1]
    raw = customer_mail(
        sender=CUSTOMER,
        name="Hans Weber",
        subject="Re: " + ours["Subject"],
        body="Noch eine Frage.",
        in_reply_to=ours["Message-ID"],
    )
    deliver(desk, dovecot, mailbox, raw)
    assert text_of(notification_for(sink, MARIA)).splitlines()[0].startswith("New message: [#")
    assert SUPPORT_USER not in text_of(notification_for(sink, MARIA)).splitlines()[0]
