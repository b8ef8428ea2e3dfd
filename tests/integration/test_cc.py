"""Issue 19, Cc and collaborators, end to end on Dovecot + the SMTP sink: a colleague the customer wrote in Cc gets
the answers in Cc (never our addresses, never a bounced one), their reply joins the ticket, the agent changes the Cc
with `#cc add|remove`, and receipts go to the sender alone."""

from __future__ import annotations

import json
from email.message import EmailMessage

import pytest
from sqlmodel import Session, select

from mailbridge.store import agents, db
from mailbridge.store.models import Customer, Message, OutboxMail, Ticket, TicketEvent, TicketParticipant
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.integration.test_agents import agent_mail, mails, notification_for, reply_to_of
from tests.integration.test_bounces import dsn_for

MARIA = "maria@shop.example"
ANNA = "anna@example.org"
BOB = "bob@example.net"
CAROL = "carol@example.com"


@pytest.fixture(params=["sqlite", "postgres"])
def desk(request, make_app, clock):
    """An app with agent Maria in "Customer service", on SQLite, then on a fresh database of the test PostgreSQL."""
    if request.param == "sqlite":
        app = make_app()
    else:
        server = request.getfixturevalue("postgres")
        app = make_app(db_url=server.create_database(f"cc{abs(hash(request.node.nodeid)) % 10**8}"))
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session,
            email=MARIA,
            name="Maria Rossi",
            locale=None,
            contacts=["Customer service"],
            now=clock.now(),
        )
    return app


def deliver(app, dovecot, mailbox, raw: bytes) -> None:
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)


def answer(app, dovecot, mailbox, sink, body: str) -> EmailMessage:
    """Maria answers the last notification she got; return the mail the customer got."""
    before = len(sink.messages)
    notification = notification_for(sink, MARIA)
    deliver(
        app,
        dovecot,
        mailbox,
        agent_mail(sender=MARIA, to_address=reply_to_of(notification), body=body, notification=notification),
    )
    [relayed] = [m for m in mails(sink)[before:] if m["Auto-Submitted"] is None]
    return relayed


def recipients(mail: EmailMessage, header: str) -> list[str]:
    return [a.addr_spec for a in mail[header].addresses] if mail[header] else []


def envelope_of(sink, mail: EmailMessage) -> tuple[str, ...]:
    return next(m.rcpt_tos for m in sink.messages if m.message["Message-ID"] == mail["Message-ID"])


def test_colleague_in_cc_gets_answers_joins_the_ticket_and_agent_changes_the_cc(desk, dovecot, mailbox, sink):
    # The customer writes To support, Cc a colleague: the receipt goes to her alone, Maria is told.
    deliver(desk, dovecot, mailbox, customer_mail(headers={"Cc": f"Bob Colleague <{BOB}>"}))
    assert len(sink.messages) == 2
    [receipt] = [m for m in sink.messages if m.message["Auto-Submitted"] == "auto-replied"]
    assert receipt.rcpt_tos == (ANNA,) and receipt.message["Cc"] is None
    assert len(notification_for_all(sink, MARIA)) == 1

    # Maria answers: To the customer, Cc the colleague, no address of ours among the recipients.
    first = answer(desk, dovecot, mailbox, sink, "We are on it.")
    assert recipients(first, "To") == [ANNA] and recipients(first, "Cc") == [BOB]
    assert sorted(envelope_of(sink, first)) == sorted([ANNA, BOB])
    assert SUPPORT_USER not in envelope_of(sink, first) and MARIA not in envelope_of(sink, first)
    assert len(sink.messages) == 3

    # The colleague answers all: same ticket, stored as his message, Maria told; no receipt to anyone.
    reply = customer_mail(sender=BOB, name="Bob Colleague", subject="Re: " + str(first["Subject"]), body="Any news?")
    reply = reply.replace(b"To: " + SUPPORT_USER.encode(), f"To: {first['Reply-To']}\r\nCc: {ANNA}".encode(), 1)
    reply = reply.replace(b"Subject:", f"In-Reply-To: {first['Message-ID']}\r\nSubject:".encode(), 1)
    deliver(desk, dovecot, mailbox, reply)
    with Session(desk.engine) as session:
        [ticket] = session.exec(select(Ticket)).all()
        customer = session.get(Customer, ticket.customer_id)
        bobs = session.exec(select(Message).where(Message.from_addr == BOB)).one()
    assert customer.email == ANNA and bobs.ticket_id == ticket.id and bobs.kind == "customer"
    assert ticket.status == "open"
    assert len(sink.messages) == 4
    told = notification_for_all(sink, MARIA)[-1]
    assert "Any news?" in told.get_body(("plain",)).get_content()
    assert not [m for m in sink.messages[3:] if BOB in m.rcpt_tos or ANNA in m.rcpt_tos]

    # `tickets show` lists the colleague.
    shown = run_cli("tickets", "show", ticket.number, config=desk.settings.path, clock=desk.clock)
    assert shown.returncode == 0 and f"  cc {BOB}" in shown.stdout
    shown = run_cli("tickets", "show", ticket.number, "--json", config=desk.settings.path, clock=desk.clock)
    [bob] = json.loads(shown.stdout)["participants"]
    assert bob["email"] == BOB and bob["added_by"] == "cc" and bob["removed"] is False

    # `#cc remove`: the answer of that very reply goes to the customer alone.
    second = answer(desk, dovecot, mailbox, sink, f"#cc remove {BOB}\nHere is the tracking number.")
    assert recipients(second, "To") == [ANNA] and second["Cc"] is None and envelope_of(sink, second) == (ANNA,)

    # `#cc add`: the next answer has the new address in Cc.
    third = answer(desk, dovecot, mailbox, sink, f"Adding our warehouse contact.\n\n#cc add {CAROL}")
    assert recipients(third, "Cc") == [CAROL] and sorted(envelope_of(sink, third)) == sorted([ANNA, CAROL])
    assert len(sink.messages) == 6

    # Carol's address bounces: the answer still reached the customer (not "bounced", no notice to its author),
    # the next answer leaves her out, and the ticket says why.
    deliver(desk, dovecot, mailbox, dsn_for(next(m.data for m in sink.messages[-1:]), CAROL))
    assert len(sink.messages) == 6
    with Session(desk.engine) as session:
        answered = session.exec(select(OutboxMail).where(OutboxMail.message_id == third["Message-ID"])).one()
        bounced = session.exec(select(TicketEvent).where(TicketEvent.kind == "mail_bounced")).one()
    assert answered.status == "sent" and answered.last_error == f"bounced in Cc: {CAROL}"
    assert f"delivery to {CAROL} in Cc failed; {ANNA} was not affected" in bounced.reason
    fourth = answer(desk, dovecot, mailbox, sink, "One more thing.")
    assert fourth["Cc"] is None and envelope_of(sink, fourth) == (ANNA,)
    with Session(desk.engine) as session:
        people = {p.email: p.removed for p in session.exec(select(TicketParticipant))}
        reasons = [e.reason for e in session.exec(select(TicketEvent).where(TicketEvent.kind == "mail_suppressed"))]
    assert people == {BOB: True, CAROL: False}
    assert any(CAROL in reason and "not sent in Cc" in reason for reason in reasons)


def notification_for_all(sink, agent: str) -> list[EmailMessage]:
    return [m for m in mails(sink) if recipients(m, "To") == [agent] and m["Reply-To"] is not None]


def test_cc_of_our_or_an_agents_address_is_refused_with_one_line_to_the_agent(desk, dovecot, mailbox, sink):
    deliver(desk, dovecot, mailbox, customer_mail(headers={"Cc": f"{MARIA}, support+tag@shop.example, {SUPPORT_USER}"}))
    with Session(desk.engine) as session:
        assert session.exec(select(TicketParticipant)).all() == []
    before = len(sink.messages)
    notification = notification_for(sink, MARIA)
    deliver(
        desk,
        dovecot,
        mailbox,
        agent_mail(
            sender=MARIA,
            to_address=reply_to_of(notification),
            body=f"#cc add {SUPPORT_USER}\nHello",
            notification=notification,
        ),
    )
    [notice] = mails(sink)[before:]
    assert recipients(notice, "To") == [MARIA]
    assert "#cc add: support@shop.example is one of our own addresses" in notice.get_body(("plain",)).get_content()
    with Session(desk.engine) as session:
        assert session.exec(select(OutboxMail).where(OutboxMail.kind == "agent_reply")).all() == []


def test_cli_reply_sends_the_answer_in_cc_too(desk, dovecot, mailbox, sink, tmp_path):
    deliver(desk, dovecot, mailbox, customer_mail(headers={"Cc": BOB}))
    with Session(desk.engine) as session:
        number = session.exec(select(Ticket)).one().number
    text = tmp_path / "answer.txt"
    text.write_text("Answered from the command line.\n", encoding="utf-8")
    result = run_cli(
        "tickets", "reply", number, "--from", MARIA, "--file", str(text), config=desk.settings.path, clock=desk.clock
    )
    assert result.returncode == 0, result.stderr
    run_once(desk)
    [relayed] = [m for m in mails(sink) if m["Auto-Submitted"] is None and recipients(m, "To") == [ANNA]]
    assert recipients(relayed, "Cc") == [BOB] and sorted(envelope_of(sink, relayed)) == sorted([ANNA, BOB])


def test_participant_mail_with_the_ticket_number_in_the_subject_lands_on_the_ticket(desk, dovecot, mailbox, sink):
    deliver(desk, dovecot, mailbox, customer_mail(headers={"Cc": BOB}))
    with Session(desk.engine) as session:
        number = session.exec(select(Ticket)).one().number
    deliver(desk, dovecot, mailbox, customer_mail(sender=BOB, name="Bob", subject=f"Photos [#{number}]", body="Here."))
    with Session(desk.engine) as session:
        [ticket] = session.exec(select(Ticket)).all()
        bobs = session.exec(select(Message).where(Message.from_addr == BOB)).one()
        customer = session.get(Customer, ticket.customer_id)
    assert bobs.ticket_id == ticket.id and bobs.match_reason == "subject_number" and customer.email == ANNA
    # No receipt for his message: the ticket is not new; Maria is told of it.
    assert not [m for m in sink.messages if BOB in m.rcpt_tos]
    assert len(notification_for_all(sink, MARIA)) == 2
