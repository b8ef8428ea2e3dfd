"""Issue 16 end to end on Dovecot, the SMTP sink and the database: over-long Message-IDs never break an answer,
and a display name is bounded, never a link, and changed only by mail our receiving server authenticated.
"""

from __future__ import annotations

import json
from email.utils import format_datetime

from sqlmodel import Session, select

from mailbridge.base.clock import FixedClock
from mailbridge.decisions.outgoing.compose import MAX_ID_CHARS
from mailbridge.runtime import desk
from mailbridge.store import agents, db
from mailbridge.store.models import Customer, Message, OutboxMail, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once

MARIA = "maria@shop.example"
CUSTOMER = "anna@example.org"
LONG_ID = "<" + "x" * 5000 + "@attacker.example>"
OURS = "mx.shop.example"


def raw_mail(
    message_id: str,
    *,
    name: str = "Anna Rossi",
    references: str = "",
    subject: str = "Order 1234 not arrived",
    auth: str = "",
) -> bytes:
    """A customer mail written by hand, so one header line can be as long as an attacker likes."""
    lines = [
        *([f"Authentication-Results: {auth}"] if auth else []),
        f"From: {name} <{CUSTOMER}>",
        f"To: {SUPPORT_USER}",
        f"Subject: {subject}",
        f"Date: {format_datetime(FixedClock().now())}",
        f"Message-ID: {message_id}",
        *([f"In-Reply-To: {references.split()[-1]}", f"References: {references}"] if references else []),
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Hello, my order has not arrived yet.",
        "",
    ]
    return "\r\n".join(lines).encode()


def deliver(app, dovecot, mailbox, raw: bytes) -> None:
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)


def with_agent(app, clock):
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


def the_ticket(app) -> Ticket:
    with Session(app.engine) as session:
        return session.exec(select(Ticket)).one()


def answers(sink) -> list:
    return [m for m in sink.messages if m.rcpt_tos == (CUSTOMER,) and b"Auto-Submitted" not in m.data]


def header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def test_answer_to_a_mail_with_a_5000_character_message_id_is_delivered(make_app, clock, dovecot, mailbox, sink):
    app = with_agent(make_app(), clock)
    deliver(app, dovecot, mailbox, raw_mail(LONG_ID, references=f"<first@example.org> {LONG_ID}"))
    with Session(app.engine) as session:
        [stored] = session.exec(select(Message)).all()
    # Not an id we can keep: stored without it, the message and its ticket all the same.
    assert stored.message_id is None and stored.ticket_id is not None and LONG_ID.encode() in stored.raw
    assert (
        desk.act_as_agent(app, number=the_ticket(app).number, agent_email=MARIA, text="Sent today.", is_note=False)
        == []
    )
    run_once(app)
    [answer] = answers(sink)
    assert all(len(line) <= 998 for line in header_lines(answer.data))
    assert answer.message["In-Reply-To"] is None and answer.message["References"].startswith("<first@example.org> ")
    assert "x" * 300 not in answer.data.decode() and "Sent today." in answer.message.get_body().get_content()
    with Session(app.engine) as session:
        assert {o.status for o in session.exec(select(OutboxMail)).all()} == {"sent"}


def test_stored_over_long_ids_are_not_copied_into_the_answer(make_app, clock, dovecot, mailbox, sink):
    # Rows stored before ids were bounded still hold them: the answer leaves them out and is delivered.
    app = with_agent(make_app(), clock)
    medium = "<" + "m" * (MAX_ID_CHARS + 50) + "@example.org>"
    deliver(app, dovecot, mailbox, raw_mail(medium))
    with db.transaction(app.engine) as session:
        [row] = session.exec(select(Message)).all()
        assert row.message_id == medium  # read and kept to thread by: it is under parse's bound
        row.references = f"<root@example.org> {LONG_ID}"
    assert (
        desk.act_as_agent(app, number=the_ticket(app).number, agent_email=MARIA, text="Sent today.", is_note=False)
        == []
    )
    run_once(app)
    [answer] = answers(sink)
    assert all(len(line) <= 998 for line in header_lines(answer.data))
    assert answer.message["In-Reply-To"] is None and medium not in answer.data.decode()


def test_receipt_of_a_link_name_greets_neutrally_and_stores_no_name(make_app, dovecot, mailbox, sink):
    app = make_app()
    deliver(app, dovecot, mailbox, customer_mail(name="Refund ready: visit refunds-shop.example now"))
    [receipt] = [m for m in sink.messages if m.rcpt_tos == (CUSTOMER,)]
    text = receipt.message.get_body(("plain",)).get_content()
    assert text.startswith("Hello there,") and b"refunds-shop" not in receipt.data
    with Session(app.engine) as session:
        assert session.exec(select(Customer)).one().name == ""


def test_only_authenticated_mail_changes_a_kept_name(make_app, dovecot, mailbox, sink):
    app = make_app(extra_support=f'authserv_id = "{OURS}"')
    deliver(app, dovecot, mailbox, raw_mail("<m1@example.org>", name="Anna Rossi"))
    number = the_ticket(app).number
    deliver(app, dovecot, mailbox, raw_mail("<m2@example.org>", name="Call 0800 REFUND", subject=f"[#{number}] more"))
    with Session(app.engine) as session:
        assert session.exec(select(Customer)).one().name == "Anna Rossi"
    # A pass written by anyone but our receiving server proves nothing; ours does.
    fake = "mx.evil.example; dmarc=pass header.from=example.org"
    deliver(app, dovecot, mailbox, raw_mail("<m3@example.org>", name="Evil Name", subject=f"[#{number}] x", auth=fake))
    with Session(app.engine) as session:
        assert session.exec(select(Customer)).one().name == "Anna Rossi"
    passed = f"{OURS}; dmarc=pass header.from=example.org"
    deliver(
        app, dovecot, mailbox, raw_mail("<m4@example.org>", name="Anna Bianchi", subject=f"[#{number}] y", auth=passed)
    )
    with Session(app.engine) as session:
        assert session.exec(select(Customer)).one().name == "Anna Bianchi"


HOSTILE_SUBJECT = "\x1b]0;pwned\x07Order \x1b[2J\u202efdp.exe \x9b31m"
HOSTILE_BODY = "Hello\r\n\x1b[2J\x1b[Hyour account is locked\x07\r\n\tthanks"
SHOWN = ("\x1b", "\x07", "\x9b", "\u202e")


def broken_mime(subject: str) -> bytes:
    return (
        f"From: Petr <petr@example.cz>\r\nTo: {SUPPORT_USER}\r\nSubject: {subject}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XYZ"\r\n\r\n--XYZ\r\n'
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n--XY"
    ).encode()


def test_cli_shows_control_characters_of_stored_mail_and_json_keeps_them(make_app, config_file, dovecot, mailbox):
    app = make_app()
    body = "\r\n".join(["Content-Type: text/plain; charset=utf-8", "", HOSTILE_BODY, ""])
    head = f"From: Anna <{CUSTOMER}>\r\nTo: {SUPPORT_USER}\r\nSubject: {HOSTILE_SUBJECT}\r\nMessage-ID: <h1@example.org>\r\n"
    dovecot.append(SUPPORT_USER, mailbox, (head + body).encode())
    dovecot.append(SUPPORT_USER, mailbox, broken_mime(HOSTILE_SUBJECT))
    run_once(app)
    number = the_ticket_of(app, CUSTOMER).number
    config = config_file()
    outputs = {
        args: run_cli(*args, config=config, clock=app.clock)
        for args in (
            ("tickets", "show", number, "--full"),
            ("tickets", "list"),
            ("tickets", "search", "Order"),
            ("tickets", "next"),
            ("customers", "show", CUSTOMER),
            ("messages", "list"),
            ("outbox", "list"),
        )
    }
    for args, result in outputs.items():
        assert result.returncode == 0, (args, result.stderr)
        assert not any(c in result.stdout for c in SHOWN), (args, result.stdout)
    show = outputs[("tickets", "show", number, "--full")].stdout
    assert "␛]0;pwned␇Order ␛[2J<U+202E>fdp.exe <U+009B>31m" in show
    assert "  | ␛[2J␛[Hyour account is locked␇\n" in show and "  | \tthanks" in show
    assert "␛[2J" in outputs[("messages", "list")].stdout
    raw = run_cli("tickets", "show", number, "--json", config=config, clock=app.clock)
    assert not any(c in raw.stdout for c in SHOWN)
    assert json.loads(raw.stdout)["subject"] == HOSTILE_SUBJECT


def the_ticket_of(app, address: str) -> Ticket:
    with Session(app.engine) as session:
        customer = session.exec(select(Customer).where(Customer.email == address)).one()
        return session.exec(select(Ticket).where(Ticket.customer_id == customer.id)).one()
