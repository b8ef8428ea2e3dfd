"""Issue 6 end to end on Dovecot + the SMTP sink: agents are notified, answer from their mail client,
the customer gets only the new text, forged replies are refused, commands act, outsiders answer.
"""

from __future__ import annotations

import email
import json
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from sqlmodel import Session, select

from mailbridge.base.clock import FixedClock
from mailbridge.decisions.matching.reply_tokens import AGENT, make_token, reply_address
from mailbridge.store import agents, db
from mailbridge.store.models import Contact, Customer, Message, OutboxMail, TextModule, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_once
from tests.conftest import run_cli as run_cli_at

MARIA = "maria@shop.example"
LUCA = "luca@shop.example"
CUSTOMER = "anna@example.org"
NEW_TEXT = "Your parcel left our warehouse today; tracking number TR-5581."
QUOTED_BODY = "Hello, my order has not arrived yet."


def mails(sink) -> list[EmailMessage]:
    return [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages]


def to(sink, address: str) -> list[EmailMessage]:
    return [m for m in mails(sink) if m["To"].addresses[0].addr_spec == address]


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def the_ticket(app) -> Ticket:
    with Session(app.engine) as session:
        return session.exec(select(Ticket)).one()


def deliver(app, dovecot, mailbox, raw: bytes) -> None:
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)


@pytest.fixture
def desk(make_app, clock, dovecot, sink, mailbox):
    """An app with agents Maria and Luca in "Customer service", and one customer ticket."""
    app = make_app()
    with db.transaction(app.engine) as session:
        for address, name in ((MARIA, "Maria Rossi"), (LUCA, "Luca Bianchi")):
            agents.add_agent(
                session=session, email=address, name=name, locale=None, contacts=["Customer service"], now=clock.now()
            )
    deliver(app, dovecot, mailbox, customer_mail(attachment=("photo.jpg", b"\xff\xd8jpeg", "image/jpeg")))
    return app


def agent_mail(
    *,
    sender: str,
    to_address: str,
    body: str,
    notification: EmailMessage | None = None,
    headers: dict[str, str] | None = None,
    attachment: tuple[str, bytes, str] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Agent <{sender}>"
    message["To"] = to_address
    message["Subject"] = "Re: " + (notification["Subject"] if notification else "ticket")
    message["Date"] = format_datetime(FixedClock().now())
    message["Message-ID"] = make_msgid(domain="shop.example")
    if notification is not None:
        message["In-Reply-To"] = notification["Message-ID"]
        message["References"] = notification["Message-ID"]
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content(body)
    if attachment:
        name, payload, mime = attachment
        message.add_attachment(payload, maintype=mime.split("/")[0], subtype=mime.split("/")[1], filename=name)
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def notification_for(sink, agent: str) -> EmailMessage:
    return [m for m in to(sink, agent) if m["Reply-To"] is not None][-1]


def reply_to_of(notification: EmailMessage) -> str:
    return notification["Reply-To"].addresses[0].addr_spec


def answer(app, dovecot, mailbox, sink, body: str, *, sender: str = MARIA, **kwargs) -> None:
    notification = notification_for(sink, MARIA)
    deliver(
        app,
        dovecot,
        mailbox,
        agent_mail(sender=sender, to_address=reply_to_of(notification), body=body, notification=notification, **kwargs),
    )


THUNDERBIRD = f"""{NEW_TEXT}

Maria

On 24/11/2026 09:00, Shop support wrote:
> New ticket: [#00000000000] Order 1234 not arrived
> {QUOTED_BODY}
"""
OUTLOOK = f"""{NEW_TEXT}

-----Original Message-----
From: Shop support <support@shop.example>
Sent: Tuesday, November 24, 2026 9:00 AM
To: Maria Rossi <maria@shop.example>
Subject: [#00000000000] Order 1234 not arrived

{QUOTED_BODY}
"""
GMAIL = f"""{NEW_TEXT}

On Tue, Nov 24, 2026 at 9:00 AM Shop support <support@shop.example> wrote:

> {QUOTED_BODY}
>
"""


def test_new_ticket_notifies_every_agent_of_the_contact_with_signed_reply_address(desk, sink):
    ticket = the_ticket(desk)
    for agent in (MARIA, LUCA):
        [note] = to(sink, agent)
        assert note["Auto-Submitted"] == "auto-generated" and f"[#{ticket.number}]" in note["Subject"]
        assert QUOTED_BODY in text_of(note) and "Status: new" in text_of(note)
        # The footer lists every command; no [actions.NAME] is configured here, so none follows #send.
        assert "#cc add|remove EMAIL #merge NUMBER #cancel #send" in text_of(note).splitlines()
        assert [p.get_filename() for p in note.iter_attachments()] == ["photo.jpg"]
        assert reply_to_of(note).startswith("support+a.")
    with Session(desk.engine) as session:
        rows = session.exec(select(OutboxMail).where(OutboxMail.kind == "agent_notification")).all()
    assert len(rows) == 2 and not any(r.is_automatic for r in rows)


@pytest.mark.parametrize("layout", [THUNDERBIRD, OUTLOOK, GMAIL], ids=["thunderbird", "outlook", "gmail"])
def test_agent_reply_reaches_customer_as_new_text_only_threaded(desk, dovecot, mailbox, sink, layout):
    answer(desk, dovecot, mailbox, sink, layout, attachment=("label.pdf", b"%PDF-1.4 label", "application/pdf"))
    [customer_mail_] = [m for m in to(sink, CUSTOMER) if m["Auto-Submitted"] is None]
    body = text_of(customer_mail_)
    assert NEW_TEXT in body and QUOTED_BODY not in body and "Original Message" not in body
    assert customer_mail_["From"].addresses[0].addr_spec == SUPPORT_USER
    with Session(desk.engine) as session:
        first = session.exec(select(Message).where(Message.kind == "customer")).first()
        copy = session.exec(select(Message).where(Message.kind == "agent_reply")).one()
        agent_row = session.exec(select(Message).where(Message.kind == "agent_reply_in")).one()
    assert customer_mail_["In-Reply-To"] == first.message_id and first.message_id in customer_mail_["References"]
    assert [p.get_filename() for p in customer_mail_.iter_attachments()] == ["label.pdf"]
    assert copy.direction == "out" and copy.message_id == customer_mail_["Message-ID"]
    assert agent_row.stripped_text.startswith(NEW_TEXT) and QUOTED_BODY in agent_row.text_body
    ticket = the_ticket(desk)
    assert ticket.status == "waiting" and ticket.assigned_agent == MARIA


def test_contact_greeting_and_signature_wrap_the_answer(desk, dovecot, mailbox, sink):
    with db.transaction(desk.engine) as session:
        contact = session.exec(select(Contact)).one()
        contact.reply_greeting = "Dear {{ customer.name }},"
        contact.reply_signature = "Kind regards, Shop support ({{ ticket.number }})"
    answer(desk, dovecot, mailbox, sink, GMAIL)
    [reply] = [m for m in to(sink, CUSTOMER) if m["Auto-Submitted"] is None]
    number = the_ticket(desk).number
    assert text_of(reply).startswith("Dear Anna Rossi,") and f"Kind regards, Shop support ({number})" in text_of(reply)


def forged_cases(desk, sink):
    notification = notification_for(sink, MARIA)
    good = reply_to_of(notification)
    local, _, domain = good.partition("@")
    tampered = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    ticket = the_ticket(desk)
    with Session(desk.engine) as session:
        maria_id = agents.get_agent(session, MARIA).id
    old = make_token(
        ticket.id,
        "test-secret-for-reply-tokens",
        purpose=AGENT,
        agent_id=maria_id,
        issued_day=desk.clock.now().date().replace(year=2025),
    )
    return {
        "forged_from": dict(sender="mallory@evil.example", to_address=good),
        "tampered_token": dict(sender=MARIA, to_address=tampered),
        "expired_token": dict(sender=MARIA, to_address=reply_address(SUPPORT_USER, old)),
        "dkim_fail": dict(
            sender=MARIA,
            to_address=good,
            headers={"Authentication-Results": "mx.shop.example; dkim=fail header.d=shop.example; spf=pass"},
        ),
    }


@pytest.mark.parametrize("case", ["forged_from", "tampered_token", "expired_token", "dkim_fail"])
def test_unverified_agent_reply_is_stored_flagged_not_relayed_and_agent_warned(desk, dovecot, mailbox, sink, case):
    options = forged_cases(desk, sink)[case]
    before = len(sink.messages)
    deliver(desk, dovecot, mailbox, agent_mail(body="Refund granted, send your bank details.", **options))
    new = mails(sink)[before:]
    assert not [m for m in new if m["To"].addresses[0].addr_spec == CUSTOMER]
    [warning] = new
    assert warning["To"].addresses[0].addr_spec == MARIA and "NOT relayed" in text_of(warning)
    with Session(desk.engine) as session:
        [row] = session.exec(select(Message).where(Message.kind == "forged_agent_reply")).all()
    assert "not relayed" in row.defects
    assert the_ticket(desk).status == "new"


def test_internal_note_never_reaches_the_customer(desk, dovecot, mailbox, sink):
    before = len(to(sink, CUSTOMER))
    answer(desk, dovecot, mailbox, sink, "#note Customer called, wants express shipping.\n\n" + GMAIL)
    assert len(to(sink, CUSTOMER)) == before
    with Session(desk.engine) as session:
        note = session.exec(select(Message).where(Message.kind == "agent_note")).one()
    assert note.stripped_text.startswith("Customer called")


def test_close_command_answers_and_closes(desk, dovecot, mailbox, sink):
    answer(desk, dovecot, mailbox, sink, "#CLOSE\n" + THUNDERBIRD)
    [reply] = [m for m in to(sink, CUSTOMER) if m["Auto-Submitted"] is None]
    assert "#CLOSE" not in text_of(reply) and NEW_TEXT in text_of(reply)
    assert the_ticket(desk).status == "closed"


def test_close_command_on_the_last_line_of_the_answer_closes_and_is_not_sent(desk, dovecot, mailbox, sink):
    body = f"{NEW_TEXT}\n\n#close\n\nOn 24/11/2026 09:00, Shop support wrote:\n> {QUOTED_BODY}\n"
    answer(desk, dovecot, mailbox, sink, body)
    [reply] = [m for m in to(sink, CUSTOMER) if m["Auto-Submitted"] is None]
    assert "#close" not in text_of(reply) and NEW_TEXT in text_of(reply)
    assert the_ticket(desk).status == "closed"


@pytest.mark.parametrize(
    "command,status",
    [
        ("#waiting", "waiting"),
        ("#open", "open"),
        ("#pending1", "pending1"),
        ("#pending2", "pending2"),
        ("#spam", "spam"),
    ],
)
def test_status_command_alone_sets_status_without_mail_to_customer(desk, dovecot, mailbox, sink, command, status):
    answer(desk, dovecot, mailbox, sink, command + "\n")
    assert the_ticket(desk).status == status
    assert not [m for m in to(sink, CUSTOMER) if m["Auto-Submitted"] is None]


def test_unknown_command_sends_nothing_and_tells_the_agent(desk, dovecot, mailbox, sink):
    before = len(to(sink, CUSTOMER))
    answer(desk, dovecot, mailbox, sink, "#clsoe\n" + GMAIL)
    assert len(to(sink, CUSTOMER)) == before
    problem = to(sink, MARIA)[-1]
    assert "unknown command #clsoe" in text_of(problem) and the_ticket(desk).status == "new"


def test_assign_and_category_commands_transfer_the_ticket(desk, dovecot, mailbox, sink):
    answer(desk, dovecot, mailbox, sink, f"#assign {LUCA}\n#category Orders/Returns\n")
    ticket = the_ticket(desk)
    assert ticket.assigned_agent == LUCA and ticket.category == "Orders > Returns"
    handover = to(sink, LUCA)[-1]
    assert "Assigned to you" in text_of(handover) and QUOTED_BODY in text_of(handover)


def test_text_module_is_inserted_in_the_customers_language(desk, dovecot, mailbox, sink):
    with db.transaction(desk.engine) as session:
        contact = session.exec(select(Contact)).one()
        session.add(
            TextModule(
                contact_id=contact.id,
                name="returns",
                locale="en",
                body="Returns: send the parcel back within 30 days, ticket {{ ticket.number }}.",
            )
        )
    answer(desk, dovecot, mailbox, sink, "Hello Anna,\n#text returns\nBest, Maria\n")
    [reply] = [m for m in to(sink, CUSTOMER) if m["Auto-Submitted"] is None]
    assert f"within 30 days, ticket {the_ticket(desk).number}." in text_of(reply) and "#text" not in text_of(reply)


def test_forward_to_outsider_and_their_answer_comes_back_to_the_agent(desk, dovecot, mailbox, sink):
    answer(desk, dovecot, mailbox, sink, "#forward courier@parcels.example\nCan you trace this parcel?\n")
    [forward] = to(sink, "courier@parcels.example")
    assert "Can you trace this parcel?" in text_of(forward) and QUOTED_BODY in text_of(forward)
    assert not [m for m in to(sink, CUSTOMER) if m["Auto-Submitted"] is None]
    outsider_reply = agent_mail(
        sender="courier@parcels.example",
        to_address=reply_to_of(forward),
        body="It is in the depot in Milan.",
        notification=forward,
    )
    before = len(to(sink, MARIA))
    deliver(desk, dovecot, mailbox, outsider_reply)
    back = to(sink, MARIA)[before:]
    assert len(back) == 1 and "It is in the depot in Milan." in text_of(back[0])
    assert not [m for m in to(sink, CUSTOMER) if m["Auto-Submitted"] is None]


def test_cli_reply_note_assign_and_next(desk, config_file, sink, tmp_path):
    number = the_ticket(desk).number
    config = config_file()

    def run_cli(*args, config):
        return run_cli_at(*args, config=config, clock=desk.clock)

    nxt = run_cli("tickets", "next", "--agent", MARIA, config=config)
    assert nxt.returncode == 0 and number in nxt.stdout
    (tmp_path / "note.txt").write_text("internal only", encoding="utf-8")
    assert (
        run_cli(
            "tickets", "note", number, "--from", MARIA, "--file", str(tmp_path / "note.txt"), config=config
        ).returncode
        == 0
    )
    assert run_cli("tickets", "assign", number, LUCA, config=config).returncode == 0
    (tmp_path / "answer.txt").write_text(NEW_TEXT, encoding="utf-8")
    result = run_cli("tickets", "reply", number, "--from", LUCA, "--file", str(tmp_path / "answer.txt"), config=config)
    assert result.returncode == 0, result.stderr
    run_once(desk)
    [reply] = [m for m in to(sink, CUSTOMER) if m["Auto-Submitted"] is None]
    assert NEW_TEXT in text_of(reply) and "internal only" not in text_of(reply)
    assert the_ticket(desk).status == "waiting" and the_ticket(desk).assigned_agent == LUCA
    full = run_cli("tickets", "show", number, "--full", config=config)
    assert (
        "internal only" in full.stdout and run_cli("tickets", "next", config=config).stdout.strip() == "nothing waiting"
    )


def test_requester_forward_makes_the_original_sender_the_customer(desk, dovecot, mailbox, sink):
    body = (
        "#requester\n\n---------- Forwarded message ---------\nFrom: Paolo Verdi <paolo@example.net>\n"
        "Date: Mon, 4 Jan 2026 at 18:00\nSubject: Broken lamp\nTo: Maria Rossi <maria@shop.example>\n\n"
        "The lamp arrived broken.\n"
    )
    # Sent to the signed reply address of a notification: that, not the From, proves the agent (issue 16).
    signed = reply_to_of(notification_for(sink, MARIA))
    deliver(desk, dovecot, mailbox, agent_mail(sender=MARIA, to_address=signed, body=body))
    with Session(desk.engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.subject == "Broken lamp")).one()
        row = session.exec(select(Message).where(Message.ticket_id == ticket.id)).one()
        customer = session.get(Customer, ticket.customer_id)
    assert customer.email == "paolo@example.net" and customer.name == "Paolo Verdi"
    assert row.stripped_text == "The lamp arrived broken." and ticket.assigned_agent == MARIA


def test_agents_and_members_cli(config_file):
    config = config_file()
    assert run_cli_at("agents", "add", MARIA, "--name", "Maria Rossi", config=config).returncode == 0
    assert run_cli_at("agents", "add", MARIA, config=config).returncode == 1
    members = run_cli_at("contacts", "members", "Customer service", "--add", MARIA, "--json", config=config)
    assert [m["email"] for m in json.loads(members.stdout)] == [MARIA]
    assert run_cli_at("agents", "edit", MARIA, "--inactive", config=config).returncode == 0
    listed = json.loads(run_cli_at("agents", "list", "--json", config=config).stdout)
    assert listed == [
        {"email": MARIA, "name": "Maria Rossi", "active": False, "locale": "en", "contacts": ["Customer service"]}
    ]
    assert run_cli_at("agents", "remove", MARIA, config=config).returncode == 0
    assert "no agents" in run_cli_at("agents", "list", config=config).stdout


def test_customer_with_a_quoted_local_part_gets_receipt_answer_and_status_change(
    make_app, clock, dovecot, sink, mailbox, config_file
):
    quoted = '"john doe"@example.org'
    app = make_app()
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session, email=MARIA, name="Maria", locale=None, contacts=["Customer service"], now=clock.now()
        )
    deliver(app, dovecot, mailbox, customer_mail(sender=quoted, name="John Doe"))
    [receipt] = to(sink, quoted)
    assert receipt["To"].addresses[0].username == "john doe"
    assert any(quoted in m.rcpt_tos for m in sink.messages)
    answer(app, dovecot, mailbox, sink, THUNDERBIRD)
    relayed = [m for m in to(sink, quoted) if m["Auto-Submitted"] is None]
    assert len(relayed) == 1 and NEW_TEXT in text_of(relayed[0])
    result = run_cli_at("tickets", "status", the_ticket(app).number, "closed", config=config_file(), clock=clock)
    assert result.returncode == 0, result.stderr
    assert the_ticket(app).status == "closed"


def test_agents_add_finds_the_mailbox_contact_on_a_fresh_database(config_file):
    """`db upgrade`, then `agents add --contact "Customer service"`: the Contact the configuration creates at start
    (create_contact) is there for the agent, without a `run` or `config check` first."""
    config = config_file()  # the schema only: no Contact yet
    added = run_cli_at("agents", "add", MARIA, "--name", "Maria Rossi", "--contact", "Customer service", config=config)
    assert added.returncode == 0, added.stderr
    listed = json.loads(run_cli_at("agents", "list", "--json", config=config).stdout)
    assert listed[0]["email"] == MARIA and listed[0]["contacts"] == ["Customer service"]
    typo = run_cli_at("agents", "add", "tom@shop.example", "--contact", "Customer servise", config=config)
    assert typo.returncode == 1 and "Customer servise" in typo.stderr
