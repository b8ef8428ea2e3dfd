"""Issue 14 (items 2 and 3a) end to end on Dovecot + the SMTP sink: one conversation per ticket in the customer's
mail client (receipt, relayed answer, auto-close notice, survey, thanks) and in each agent's (notifications chained
per ticket and agent, From naming the customer); the first answer sends no "we started handling" notice.
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from sqlmodel import Session, select

from mailbridge.store import agents, db
from mailbridge.store.models import OutboxMail, Ticket
from tests.conftest import SUPPORT_USER, run_once

GIULIA = "giulia@example.org"
MARIA = "maria@shop.example"
LUCA = "luca@shop.example"
SUBJECT = "Broken kettle"


def mails(sink) -> list[EmailMessage]:
    return [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages]


def to(sink, address: str) -> list[EmailMessage]:
    return [m for m in mails(sink) if m["To"].addresses[0].addr_spec == address]


def ids(header) -> list[str]:
    return str(header or "").split()


def message(*, sender: str, to_address: str, body: str, parent: EmailMessage | None, clock, name: str = "") -> bytes:
    """A mail as a mail client writes it: a reply carries its parent's References and the parent's Message-ID."""
    mail = EmailMessage()
    mail["From"] = f"{name} <{sender}>" if name else sender
    mail["To"] = to_address
    mail["Subject"] = "Re: " + str(parent["Subject"]) if parent is not None else SUBJECT
    mail["Date"] = format_datetime(clock.now())
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    if parent is not None:
        mail["In-Reply-To"] = parent["Message-ID"]
        mail["References"] = " ".join([*ids(parent["References"]), str(parent["Message-ID"])])
    mail.set_content(body)
    return mail.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def deliver(app, dovecot, mailbox, clock, raw: bytes) -> str:
    """Put a mail in the support mailbox, run one cycle and return the mail's Message-ID."""
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)
    clock.advance(minutes=5)
    return str(email.message_from_bytes(raw, policy=policy.default)["Message-ID"])


@pytest.fixture
def journey(any_db_app, clock, dovecot, sink, mailbox):
    """Giulia writes, replies to the receipt, Maria answers from her mail client, the ticket closes by itself after
    five days (notice and survey) and Giulia rates it by replying. Returns the app and every id that matters.

    On SQLite and on PostgreSQL."""
    app = any_db_app
    with db.transaction(app.engine) as session:
        for address, name in ((MARIA, "Maria Rossi"), (LUCA, "Luca Bianchi")):
            agents.add_agent(
                session=session, email=address, name=name, locale=None, contacts=["Customer service"], now=clock.now()
            )
    write = dict(sender=GIULIA, to_address=SUPPORT_USER, clock=clock, name="Giulia Bianchi")
    first = deliver(app, dovecot, mailbox, clock, message(body="My kettle broke after a week.", parent=None, **write))
    [receipt] = to(sink, GIULIA)
    second = deliver(
        app, dovecot, mailbox, clock, message(body="Photo of the receipt attached.", parent=receipt, **write)
    )
    notification = to(sink, MARIA)[-1]
    answer = message(
        sender=MARIA,
        to_address=notification["Reply-To"].addresses[0].addr_spec,
        body="We will send you a new kettle today.",
        parent=notification,
        clock=clock,
    )
    agent_own = deliver(app, dovecot, mailbox, clock, answer)
    clock.advance(days=5)
    run_once(app)
    run_once(app)
    [survey] = [m for m in to(sink, GIULIA) if "mailto:" in m.get_body(("html",)).get_content()]
    rating = deliver(app, dovecot, mailbox, clock, message(body="5\nQuick and kind.", parent=survey, **write))
    return app, dict(first=first, second=second, rating=rating, agent_own=agent_own)


def test_every_mail_to_the_customer_forms_one_thread(journey, sink):
    app, sent = journey
    customer_mails = to(sink, GIULIA)
    with Session(app.engine) as session:
        kinds = list(session.exec(select(OutboxMail.kind).where(OutboxMail.rcpt_to == GIULIA).order_by(OutboxMail.id)))
        ticket = session.exec(select(Ticket)).one()
    assert kinds == ["receipt", "agent_reply", "auto_closed", "survey", "survey_thanks"]
    assert len(customer_mails) == len(kinds)
    # In-Reply-To: the customer's latest message when each mail was written.
    parents = [m["In-Reply-To"] for m in customer_mails]
    assert parents == [sent["first"], sent["second"], sent["second"], sent["second"], sent["rating"]]
    agent_ids = {sent["agent_own"]} | {str(m["Message-ID"]) for m in to(sink, MARIA) + to(sink, LUCA)}
    for mail in customer_mails:
        assert sent["first"] in ids(mail["References"])
        assert str(mail["In-Reply-To"]) in ids(mail["References"])
        assert not agent_ids & {*ids(mail["References"]), str(mail["In-Reply-To"])}
    # The chain holds what the customer saw, in order: later mails list the earlier ones.
    receipt, answer, notice, survey, thanks = customer_mails
    assert ids(answer["References"]) == [sent["first"], receipt["Message-ID"], sent["second"]]
    assert ids(thanks["References"])[:3] == ids(answer["References"])
    assert {answer["Message-ID"], notice["Message-ID"], survey["Message-ID"]} <= set(ids(thanks["References"]))
    # One stable subject, so clients that thread by subject agree.
    assert {str(m["Subject"]) for m in customer_mails} == {f"[#{ticket.number}] {SUBJECT}"}


def test_first_answer_sends_no_handling_notice(journey, sink):
    app, _ = journey
    with Session(app.engine) as session:
        kinds = set(session.exec(select(OutboxMail.kind)))
    assert "handling_started" not in kinds
    assert not [m for m in to(sink, GIULIA) if "started handling" in m.get_body(("plain",)).get_content()]


def test_agent_notifications_of_a_ticket_chain_per_agent_and_name_the_customer(journey, sink):
    # Maria answers first: Luca, the Contact's other agent, hears once that she took the ticket, in his chain.
    [taken] = to(sink, LUCA)[2:]
    assert "took ticket" in taken.get_body(("plain",)).get_content()
    assert taken["In-Reply-To"] == to(sink, LUCA)[1]["Message-ID"]
    for agent in (MARIA, LUCA):
        first, second = to(sink, agent)[:2]
        assert first["In-Reply-To"] is None and first["References"] is None
        assert second["In-Reply-To"] == first["Message-ID"] and ids(second["References"]) == [first["Message-ID"]]
        for mail in (first, second):
            assert mail["From"].addresses[0].display_name == "Giulia Bianchi via Shop support"
            assert mail["From"].addresses[0].addr_spec == SUPPORT_USER
            assert mail["Reply-To"].addresses[0].display_name == "Shop support"
            assert mail["Reply-To"].addresses[0].addr_spec.startswith("support+")
    # Each agent's chain is their own.
    assert not set(ids(to(sink, MARIA)[1]["References"])) & {str(m["Message-ID"]) for m in to(sink, LUCA)}
