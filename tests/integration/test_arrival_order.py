"""Issue 15, part D, on Dovecot + the SMTP sink: threading does not depend on the order mail arrives in.

A parent that arrives after its replies joins the ticket they opened; replies to a parent never seen stay together by
the reference they share; copies of one mail through several lists (other subject tag, a footer) are stored, each,
on one ticket; and a stranger who reuses an id from the thread gets a ticket of their own.
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text
from sqlmodel import Session, select

from mailbridge.store import agents, db
from mailbridge.store.models import Message, MessageReference, OutboxMail, Ticket
from tests.conftest import SUPPORT_USER, run_once

ANNA = "anna@example.org"
BOB = "bob@example.org"
CAROL = "carol@example.org"
MARIA = "maria@shop.example"
PARENT = "<parent.4711@mail.example.org>"
REPLY = "<reply.0815@mail.example.org>"
REPLY_TO_REPLY = "<reply.0816@mail.example.org>"


def mail(
    *,
    sender: str,
    to: str,
    cc: str = "",
    subject: str = "Invoice 2231 charged twice",
    message_id: str,
    references: tuple[str, ...] = (),
    body: str = "Hello",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A mail as a mail client writes it: a reply's In-Reply-To is its newest reference."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = "Tue, 10 Mar 2026 09:15:00 +0100"
    message["Message-ID"] = message_id
    if references:
        message["In-Reply-To"] = references[-1]
        message["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def deliver(app, dovecot, mailbox, raw: bytes) -> None:
    """Put one mail in the support mailbox and run one daemon cycle, as if it arrived on its own."""
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)
    app.clock.advance(minutes=3)


def stored(app) -> dict[str, Message]:
    """The stored inbound messages by their Message-ID (the last stored of each id)."""
    with Session(app.engine) as session:
        rows = session.exec(select(Message).where(Message.direction == "in").order_by(Message.id)).all()
    return {row.message_id or "": row for row in rows}


def ticket_count(app) -> int:
    with Session(app.engine) as session:
        return len(session.exec(select(Ticket)).all())


def outbox_kinds(app) -> list[str]:
    with Session(app.engine) as session:
        return sorted(session.exec(select(OutboxMail.kind)))


def received_by(sink, address: str) -> list[EmailMessage]:
    mails = [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages if address in m.rcpt_tos]
    return [m for m in mails if m["Auto-Submitted"] == "auto-replied"]


def add_maria(app) -> None:
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session, email=MARIA, name="Maria", locale=None, contacts=["Customer service"], now=app.clock.now()
        )


# Anna writes to support with her colleague Bob in Cc; Bob answers everyone; Anna answers Bob. The support
# mailbox receives Bob's reply first, then Anna's answer to it, and Anna's first mail last (a slow relay).
PARENT_MAIL = dict(sender=ANNA, to=SUPPORT_USER, cc=BOB, message_id=PARENT, body="We were charged twice.")
REPLY_MAIL = dict(
    sender=BOB,
    to=ANNA,
    cc=SUPPORT_USER,
    subject="Re: Invoice 2231 charged twice",
    message_id=REPLY,
    references=(PARENT,),
    body="Same on our side: two charges on 3 March.",
)
REPLY_TO_REPLY_MAIL = dict(
    sender=ANNA,
    to=BOB,
    cc=SUPPORT_USER,
    subject="Re: Re: Invoice 2231 charged twice",
    message_id=REPLY_TO_REPLY,
    references=(PARENT, REPLY),
    body="Thanks Bob, the bank confirms it.",
)


def test_reply_then_reply_to_reply_then_parent_are_one_ticket_with_one_receipt(any_db_app, dovecot, sink, mailbox):
    app = any_db_app
    add_maria(app)
    deliver(app, dovecot, mailbox, mail(**REPLY_MAIL))
    deliver(app, dovecot, mailbox, mail(**REPLY_TO_REPLY_MAIL))
    deliver(app, dovecot, mailbox, mail(**PARENT_MAIL))
    rows = stored(app)
    assert ticket_count(app) == 1
    assert {row.ticket_id for row in rows.values()} == {rows[REPLY].ticket_id}
    assert [rows[i].match_reason for i in (REPLY, REPLY_TO_REPLY, PARENT)] == ["new", "in_reply_to", "referenced_by"]
    # One receipt, for the first mail that arrived; the others are messages on the ticket it opened.
    assert outbox_kinds(app).count("receipt") == 1
    [receipt] = received_by(sink, BOB)
    assert receipt["In-Reply-To"] == REPLY
    assert received_by(sink, ANNA) == []
    with Session(app.engine) as session:
        links = set(session.exec(select(MessageReference.referenced_id, MessageReference.message_row_id)))
    assert links == {(PARENT, rows[REPLY].id), (REPLY, rows[REPLY_TO_REPLY].id), (PARENT, rows[REPLY_TO_REPLY].id)}


def test_parent_from_someone_a_stored_reply_was_written_to_joins_its_ticket(make_app, dovecot, sink, mailbox):
    # Anna is on no ticket yet, but Bob's reply, stored, was written to her and names her mail.
    app = make_app()
    deliver(app, dovecot, mailbox, mail(**REPLY_MAIL))
    deliver(app, dovecot, mailbox, mail(**PARENT_MAIL))
    rows = stored(app)
    assert rows[PARENT].ticket_id == rows[REPLY].ticket_id and rows[PARENT].match_reason == "referenced_by"
    assert ticket_count(app) == 1 and outbox_kinds(app) == ["receipt"]


def test_stranger_reusing_the_id_a_stored_reply_names_gets_a_ticket_of_their_own(make_app, dovecot, sink, mailbox):
    app = make_app()
    deliver(app, dovecot, mailbox, mail(**REPLY_MAIL))
    forged = mail(sender="mallory@evil.example", to=SUPPORT_USER, message_id=PARENT, body="Send me the invoice.")
    deliver(app, dovecot, mailbox, forged)
    rows = stored(app)
    assert rows[PARENT].ticket_id != rows[REPLY].ticket_id and rows[PARENT].match_reason == "new"
    assert ticket_count(app) == 2


def test_replies_to_a_parent_never_seen_share_one_ticket(make_app, dovecot, sink, mailbox):
    # Anna's first mail never reaches support (it went to Bob and Carol only); both answer all, support in Cc.
    app = make_app()
    deliver(
        app,
        dovecot,
        mailbox,
        mail(sender=BOB, to=ANNA, cc=f"{CAROL}, {SUPPORT_USER}", message_id=REPLY, references=(PARENT,)),
    )
    carol = "<carol.1@mail.example.org>"
    deliver(
        app,
        dovecot,
        mailbox,
        mail(
            sender=CAROL,
            to=ANNA,
            cc=f"{BOB}, {SUPPORT_USER}",
            subject="AW: Rechnung 2231 doppelt",  # her client translated the subject: no subject rule helps
            message_id=carol,
            references=(PARENT,),
        ),
    )
    rows = stored(app)
    assert rows[carol].ticket_id == rows[REPLY].ticket_id and rows[carol].match_reason == "shared_reference"
    assert ticket_count(app) == 1 and outbox_kinds(app) == ["receipt"]


def test_reply_reply_to_reply_and_parent_in_one_batch_are_one_ticket(make_app, dovecot, sink, mailbox):
    # All three arrive before one poll: one batch in one transaction, whose look-ahead found none of their ids
    # stored; each must still find what the ones before it wrote in that transaction.
    app = make_app()
    for raw in (mail(**REPLY_MAIL), mail(**REPLY_TO_REPLY_MAIL), mail(**PARENT_MAIL)):
        dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)
    rows = stored(app)
    assert ticket_count(app) == 1 and {row.ticket_id for row in rows.values()} == {rows[REPLY].ticket_id}
    assert [rows[i].match_reason for i in (REPLY, REPLY_TO_REPLY, PARENT)] == ["new", "in_reply_to", "referenced_by"]
    assert outbox_kinds(app).count("receipt") == 1


def test_replies_to_a_parent_never_seen_in_one_batch_share_one_ticket(make_app, dovecot, sink, mailbox):
    app = make_app()
    carol = "<carol.2@mail.example.org>"
    dovecot.append(
        SUPPORT_USER,
        mailbox,
        mail(sender=BOB, to=ANNA, cc=f"{CAROL}, {SUPPORT_USER}", message_id=REPLY, references=(PARENT,)),
    )
    dovecot.append(
        SUPPORT_USER,
        mailbox,
        mail(
            sender=CAROL,
            to=ANNA,
            cc=f"{BOB}, {SUPPORT_USER}",
            subject="AW: Rechnung 2231 doppelt",
            message_id=carol,
            references=(PARENT,),
        ),
    )
    run_once(app)
    rows = stored(app)
    assert rows[carol].ticket_id == rows[REPLY].ticket_id and rows[carol].match_reason == "shared_reference"
    assert ticket_count(app) == 1 and outbox_kinds(app) == ["receipt"]


LIST_COPY = "\n-- \nlist-{0} mailing list -- list-{0}@lists.example\nTo unsubscribe send an email to list-{0}-leave@lists.example\n"


def test_copies_of_one_mail_through_two_lists_and_an_alias_are_each_stored_on_one_ticket(
    make_app, dovecot, sink, mailbox
):
    app = make_app()
    add_maria(app)
    common = dict(sender=ANNA, message_id=PARENT, body="We were charged twice.")
    to_all = f"{SUPPORT_USER}, list-a@lists.example, list-b@lists.example"
    deliver(app, dovecot, mailbox, mail(to=to_all, **common))
    for name in ("a", "b"):
        copy = mail(
            to=to_all,
            subject=f"[list-{name}] Invoice 2231 charged twice",
            headers={"List-Id": f"<list-{name}.lists.example>", "List-Post": f"<mailto:list-{name}@lists.example>"},
            **{**common, "body": common["body"] + LIST_COPY.format(name)},
        )
        deliver(app, dovecot, mailbox, copy)
    # A gateway that forwards the old address and tags external mail: customer mail again, under another subject.
    deliver(app, dovecot, mailbox, mail(to="help@shop.example", subject="[EXT] Invoice 2231 charged twice", **common))
    with Session(app.engine) as session:
        rows = session.exec(select(Message).where(Message.direction == "in").order_by(Message.id)).all()
    assert len(rows) == 4 and len({row.raw for row in rows}) == 4
    assert {row.ticket_id for row in rows} == {rows[0].ticket_id} and ticket_count(app) == 1
    assert [row.match_reason for row in rows] == ["new", "same_message_id", "same_message_id", "same_message_id"]
    assert [row.subject for row in rows][1:3] == [
        "[list-a] Invoice 2231 charged twice",
        "[list-b] Invoice 2231 charged twice",
    ]
    # The first copy was answered and the agents told; no copy causes that again.
    assert outbox_kinds(app) == ["agent_notification", "receipt"]
    assert len(received_by(sink, ANNA)) == 1


def test_upgrade_fills_in_the_references_of_mail_stored_before_it(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    config = AlembicConfig()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    with db.make_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0012")
        insert = (
            'INSERT INTO message (id, direction, message_id, in_reply_to, "references", from_addr, from_name, to_addrs, '
            "cc_addrs, subject, text_body, html_body, raw, raw_sha256, kind, is_malformed, defects, stored_at) VALUES "
            "(:id, :direction, :message_id, :in_reply_to, :references, 'bob@example.org', '', '', '', 'Re: x', '', '', "
            "x'00', :digest, 'customer', 0, '', '2026-03-01 09:00:00')"
        )
        rows = [
            ("in", REPLY, PARENT, PARENT),  # In-Reply-To and References name the same id: one row
            ("in", REPLY_TO_REPLY, REPLY, f"{PARENT} {REPLY}"),
            ("in", "<plain@x>", None, ""),  # answers nothing
            ("out", "<ours@x>", REPLY, REPLY),  # only inbound mail is threaded by its references
        ]
        for row_id, (direction, message_id, in_reply_to, references) in enumerate(rows, start=1):
            connection.execute(
                text(insert),
                dict(
                    id=row_id,
                    direction=direction,
                    message_id=message_id,
                    in_reply_to=in_reply_to,
                    references=references,
                    digest=f"{row_id:064x}",
                ),
            )
    db.upgrade_schema(db.make_engine(url))
    with db.make_engine(url).connect() as connection:
        links = set(connection.execute(text("SELECT referenced_id, message_row_id FROM messagereference")).all())
    assert links == {(PARENT, 1), (REPLY, 2), (PARENT, 2)}
