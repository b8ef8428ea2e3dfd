"""Issue 14 (3b, 4) end to end on Dovecot + the SMTP sink: each person in their language.

Agents read their mail in their own locale without internal labels or command lines; a customer's relayed answer
carries the Contact's greeting and signature of the customer's language, and no second greeting when the agent
wrote one.
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from mailbridge.store import agents, contacts, db
from mailbridge.store.models import Contact, Customer, Ticket
from tests.conftest import customer_mail, run_cli
from tests.integration import test_agents
from tests.integration.test_agents import agent_mail, deliver, notification_for, reply_to_of, to

MARIA = "maria@shop.example"
LUCA = "luca@shop.example"
CUSTOMER = "anna@example.org"
PETR = "petr@example.cz"
CZECH_MAIL = "Dobrý den, moje objednávka 1234 ještě nedorazila. Prosím o pomoc, děkuji."
ITALIAN_GREETING = "Gentile {{ customer.name }},"
ITALIAN_SIGNATURE = "Cordiali saluti\nShop support"
CZECH_GREETING = "Vážený zákazníku {{ customer.name }},"
CZECH_SIGNATURE = "S pozdravem\nZákaznická podpora"
INTERNAL_LABELS = ("agent_reply", "outsider_reply", "agent_note", "customer anna", "Status: new")


def text_of(mail) -> str:
    return test_agents.text_of(mail).replace("\r\n", "\n")


def add_agent(app, clock, address: str, name: str, locale: str | None) -> None:
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session, email=address, name=name, locale=locale, contacts=["Customer service"], now=clock.now()
        )


def the_ticket(app) -> Ticket:
    with Session(app.engine) as session:
        return session.exec(select(Ticket)).one()


def relayed_to(sink, address: str) -> list:
    return [m for m in to(sink, address) if m["Auto-Submitted"] is None]


@pytest.fixture
def italian_desk(make_app, clock, dovecot, sink, mailbox):
    """Maria reads Italian; Luca has no locale of his own; an English customer opened a ticket."""
    app = make_app()
    add_agent(app, clock, MARIA, "Maria Rossi", "it")
    add_agent(app, clock, LUCA, "Luca Bianchi", None)
    deliver(app, dovecot, mailbox, customer_mail())
    return app


@pytest.fixture
def czech_desk(make_app, clock, dovecot, sink, mailbox):
    """A Contact whose default greeting and signature are Italian, with Czech ones too; a Czech customer wrote."""
    app = make_app()
    add_agent(app, clock, MARIA, "Maria Rossi", None)
    with db.transaction(app.engine) as session:
        contact = session.exec(select(Contact)).one()
        contact.reply_greeting, contact.reply_signature = ITALIAN_GREETING, ITALIAN_SIGNATURE
        contacts.set_reply_texts(
            session=session,
            name=contact.name,
            locale="cs",
            texts={"greeting": CZECH_GREETING, "signature": CZECH_SIGNATURE},
        )
    deliver(app, dovecot, mailbox, customer_mail(sender=PETR, name="Petr Novák", subject="Objednávka", body=CZECH_MAIL))
    return app


def answer(app, dovecot, mailbox, sink, body: str, sender: str = MARIA) -> None:
    notification = notification_for(sink, sender)
    deliver(
        app,
        dovecot,
        mailbox,
        agent_mail(sender=sender, to_address=reply_to_of(notification), body=body, notification=notification),
    )


def test_agent_with_locale_it_gets_an_italian_notification_and_the_other_the_default(italian_desk, sink):
    [maria] = to(sink, MARIA)
    [luca] = to(sink, LUCA)
    number = the_ticket(italian_desk).number
    assert text_of(maria).startswith(f"Nuovo ticket: [#{number}]")
    assert "Stato: nuovo" in text_of(maria) and "Risponda a questa email" in text_of(maria)
    assert "Stato: nuovo" in maria.get_body(("html",)).get_content()
    assert text_of(luca).startswith(f"New ticket: [#{number}]") and "Status: new" in text_of(luca)


def test_assignment_mail_shows_words_and_no_command_lines(italian_desk, dovecot, mailbox, sink):
    answer(italian_desk, dovecot, mailbox, sink, "Il pacco è partito oggi.\n\n#waiting\n", sender=MARIA)
    answer(italian_desk, dovecot, mailbox, sink, f"#assign {LUCA}\n#category Orders/Returns\n", sender=MARIA)
    handover = text_of(to(sink, LUCA)[-1])
    assert handover.startswith("Assigned to you:") and "Status: waiting for the customer" in handover
    assert "Agent maria@shop.example" in handover and "Answer to the customer support@shop.example" in handover
    assert "Il pacco è partito oggi." in handover
    # The help below the line lists the commands; the thread above it shows none of Maria's.
    thread = handover.split("-" * 70)[0]
    assert "#waiting" not in thread and "#assign" not in thread and "agent_reply" not in thread
    [notice] = [m for m in to(sink, MARIA) if "trasferito" in text_of(m)]
    assert "Questo ticket è stato trasferito a Luca Bianchi." in text_of(notice)


def test_forward_to_an_outsider_has_no_labels_or_commands(italian_desk, dovecot, mailbox, sink):
    answer(italian_desk, dovecot, mailbox, sink, "Il pacco è partito.\n", sender=MARIA)
    body = "#forward courier@parcels.example\nCan you trace this parcel?\n"
    answer(italian_desk, dovecot, mailbox, sink, body, sender=MARIA)
    [forward] = to(sink, "courier@parcels.example")
    text = text_of(forward)
    assert "Can you trace this parcel?" in text and "Hello, my order has not arrived yet." in text
    assert "#forward" not in text and not [label for label in INTERNAL_LABELS if label in text]
    assert "Customer anna@example.org" in text and "Maria Rossi forwarded this conversation to you." in text
    outsider = agent_mail(
        sender="courier@parcels.example", to_address=reply_to_of(forward), body="In Milan.", notification=forward
    )
    deliver(italian_desk, dovecot, mailbox, outsider)
    assert text_of(to(sink, MARIA)[-1]).startswith("Risposta da courier@parcels.example:")


def test_problem_notice_is_in_the_agents_language(italian_desk, dovecot, mailbox, sink):
    answer(italian_desk, dovecot, mailbox, sink, "#clsoe\nIl pacco è partito.\n", sender=MARIA)
    problem = text_of(to(sink, MARIA)[-1])
    assert problem.startswith("Al cliente non è stato inviato nulla:") and "#clsoe" in problem
    assert not relayed_to(sink, CUSTOMER)


def test_czech_customer_gets_the_czech_greeting_and_signature_not_the_italian_default(
    czech_desk, dovecot, mailbox, sink
):
    with Session(czech_desk.engine) as session:
        assert session.exec(select(Customer).where(Customer.email == PETR)).one().locale == "cs"
    answer(czech_desk, dovecot, mailbox, sink, "Balík dnes odešel, číslo zásilky TR-5581.\n")
    [reply] = relayed_to(sink, PETR)
    text = text_of(reply)
    assert text.startswith("Vážený zákazníku Petr Novák,") and "S pozdravem\nZákaznická podpora" in text
    assert "Gentile" not in text and "Cordiali saluti" not in text and "Balík dnes odešel" in text


def test_customer_of_a_locale_without_its_own_text_gets_the_contact_default(czech_desk, dovecot, mailbox, sink):
    deliver(czech_desk, dovecot, mailbox, customer_mail(subject="Another order", body="Where is my order, please?"))
    with Session(czech_desk.engine) as session:
        english = session.exec(select(Ticket).where(Ticket.subject == "Another order")).one()
    notification = [m for m in to(sink, MARIA) if english.number in m["Subject"]][-1]
    raw = agent_mail(
        sender=MARIA, to_address=reply_to_of(notification), body="It left today.", notification=notification
    )
    deliver(czech_desk, dovecot, mailbox, raw)
    [reply] = relayed_to(sink, CUSTOMER)
    assert text_of(reply).startswith("Gentile Anna Rossi,") and "Cordiali saluti" in text_of(reply)


def test_agent_answer_that_greets_gets_no_second_greeting(czech_desk, dovecot, mailbox, sink):
    answer(czech_desk, dovecot, mailbox, sink, "Dobrý den,\n\nbalík dnes odešel.\n")
    [reply] = relayed_to(sink, PETR)
    text = text_of(reply)
    assert text.startswith("Dobrý den,") and "Vážený zákazníku" not in text
    assert "S pozdravem\nZákaznická podpora" in text


def test_agent_answer_that_closes_gets_no_second_signature(czech_desk, dovecot, mailbox, sink):
    answer(czech_desk, dovecot, mailbox, sink, "balík dnes odešel.\n\nS pozdravem\nMarie\n")
    text = text_of(relayed_to(sink, PETR)[0])
    assert text.startswith("Vážený zákazníku Petr Novák,") and "Zákaznická podpora" not in text


def test_contacts_reply_text_cli_sets_shows_and_removes_a_locales_texts(config_file, make_app, clock):
    config = config_file()
    make_app()
    args = ("contacts", "reply-text", "Customer service", "--locale", "cs")
    result = run_cli(*args, "--greeting", "Dobrý den,", "--signature", "S pozdravem", "--json", config=config)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cs"] == {"greeting": "Dobrý den,", "signature": "S pozdravem"}
    shown = json.loads(run_cli("contacts", "show", "Customer service", "--json", config=config).stdout)
    assert shown["reply_texts"] == {"cs": {"greeting": "Dobrý den,", "signature": "S pozdravem"}}
    assert run_cli(*args, "--greeting", "", "--json", config=config).returncode == 0
    shown = json.loads(run_cli("contacts", "show", "Customer service", "--json", config=config).stdout)
    assert shown["reply_texts"] == {"cs": {"signature": "S pozdravem"}}
    wrong = run_cli(
        "contacts", "reply-text", "Customer service", "--locale", "fr", "--greeting", "Bonjour", config=config
    )
    assert wrong.returncode != 0 and "--locale" in wrong.stdout + wrong.stderr
