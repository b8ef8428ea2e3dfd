"""Issue 16 (no amplification) end to end on Dovecot + the SMTP sink: a flood of mail causes a bounded number of
notifications and bytes, one agent hears of one ticket at most a few times an hour, notifications carry an excerpt
and the files that fit, and forged replies cause one warning per sender an hour."""

from __future__ import annotations

import email
from email import policy

import pytest
from sqlmodel import Session, select

from mailbridge.store import agents, db
from mailbridge.store.models import Message, Ticket, TicketEvent
from tests.conftest import SUPPORT_USER, customer_mail, run_once
from tests.integration.test_agents import LUCA, MARIA, mails, text_of, to
from tests.integration.test_forged_agents import DMARC_FAIL, OURS, reply

FLOODER = "bot@flood.example"


def add_agents(app, clock, *addresses: str) -> None:
    with db.transaction(app.engine) as session:
        for address in addresses:
            agents.add_agent(
                session=session, email=address, name="", locale=None, contacts=["Customer service"], now=clock.now()
            )


def append_all(dovecot, mailbox, raws: list[bytes]) -> None:
    """APPEND many messages over one IMAP connection."""
    client = dovecot.client(SUPPORT_USER)
    try:
        for raw in raws:
            client.append(mailbox, raw)
    finally:
        client.logout()


def notifications(sink, agent: str) -> list:
    return [m for m in to(sink, agent) if m["Reply-To"] is not None]


def test_two_hundred_mails_from_one_sender_cause_bounded_mail_and_bytes(make_app, clock, dovecot, sink, mailbox):
    app = make_app(extra_support='admin_address = "admin@shop.example"')
    add_agents(app, clock, MARIA, LUCA)
    photo = b"\x89PNG" + bytes(range(256)) * 200  # 51 KB, attached to every mail
    raws = [
        customer_mail(sender=FLOODER, subject=f"Offer {n}", attachment=("photo.png", photo, "image/png"))
        for n in range(200)
    ]
    append_all(dovecot, mailbox, raws)
    run_once(app)
    bytes_in = sum(len(r) for r in raws)
    bytes_out = sum(len(m.data) for m in sink.messages)
    print(f"200 mails from one sender: {bytes_in} bytes in, {bytes_out} bytes out in {len(sink.messages)} mails")
    with Session(app.engine) as session:
        assert len(session.exec(select(Ticket)).all()) == 200  # every mail is stored, on its own ticket
    for agent in (MARIA, LUCA):
        # Notified of the first 15 (the flood threshold), then one notice instead of 185 notifications.
        assert len(notifications(sink, agent)) == 15
        [notice] = [m for m in to(sink, agent) if m["Reply-To"] is None]
        assert f"{FLOODER} sent 16 messages within 10 minutes" in text_of(notice)
    assert len(to(sink, FLOODER)) == 10  # receipts: [limits] max_auto_replies_per_address_per_day
    assert len(to(sink, "admin@shop.example")) == 1
    assert len(sink.messages) == 2 * 15 + 2 + 10 + 1
    assert bytes_out < bytes_in / 4


def test_one_agent_hears_of_one_ticket_at_most_five_times_an_hour(make_app, clock, dovecot, sink, mailbox):
    app = make_app()
    add_agents(app, clock, MARIA)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Broken lamp"))
    run_once(app)
    with Session(app.engine) as session:
        number = session.exec(select(Ticket)).one().number
    for n in range(11):
        clock.advance(minutes=2)
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject=f"Re: [#{number}] Broken lamp", body=f"Also {n}"))
        run_once(app)
    assert len(notifications(sink, MARIA)) == 5
    with Session(app.engine) as session:
        assert len(session.exec(select(Message).where(Message.kind == "customer")).all()) == 12
        suppressed = session.exec(select(TicketEvent).where(TicketEvent.kind == "mail_suppressed")).all()
    assert len(suppressed) == 7 and all("5 notifications to this agent" in e.reason for e in suppressed)
    clock.advance(minutes=61)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject=f"Re: [#{number}] Broken lamp", body="Hello?"))
    run_once(app)
    latest = notifications(sink, MARIA)[-1]
    assert len(notifications(sink, MARIA)) == 6
    assert "7 earlier messages without a notification (at most 5 an hour)" in text_of(latest)
    assert "Hello?" in text_of(latest)


@pytest.mark.parametrize(
    ("mode", "attached"),
    [("small", ["small.txt"]), ("none", []), ("all", ["big.bin", "small.txt"])],
)
def test_notification_carries_an_excerpt_and_the_files_that_fit(
    make_app, clock, dovecot, sink, mailbox, mode, attached
):
    app = make_app(extra=f'[agents]\nattach_files = "{mode}"\n')
    add_agents(app, clock, MARIA)
    raw = customer_mail(
        body="Please read. " + "word " * 20_000,
        attachment=("big.bin", b"x" * (3 * 1024 * 1024), "application/octet-stream"),
    )
    raw = _with_second_file(raw, "small.txt", b"hello")
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)
    [note] = notifications(sink, MARIA)
    with Session(app.engine) as session:
        number = session.exec(select(Ticket)).one().number
    text = text_of(note)
    assert len(text) < 6000 and "Please read." in text
    assert f"more characters: mailbridge tickets show {number}]" in text
    assert sorted(part.get_filename() for part in note.iter_attachments()) == attached
    big_line = (
        "big.bin (3.0 MB)"
        if "big.bin" in attached
        else f"big.bin (3.0 MB, not attached: mailbridge tickets show {number})"
    )
    assert big_line in text and "small.txt (5 B" in text
    assert len(mails(sink)) == 2  # the receipt and Maria's notification


def _with_second_file(raw: bytes, name: str, payload: bytes) -> bytes:
    message = email.message_from_bytes(raw, policy=policy.default)
    message.add_attachment(payload, maintype="text", subtype="plain", filename=name)
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_fifty_forged_replies_from_one_sender_cause_one_warning(make_app, clock, dovecot, sink, mailbox):
    app = make_app(extra_support=f'authserv_id = "{OURS}"')
    add_agents(app, clock, MARIA)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    forged = [reply(sink, auth=(DMARC_FAIL,)) for _ in range(50)]
    before = len(sink.messages)
    append_all(dovecot, mailbox, forged)
    run_once(app)
    warnings = [m for m in mails(sink)[before:] if "NOT relayed" in text_of(m)]
    assert len(warnings) == 1 and len(sink.messages) == before + 1
    with Session(app.engine) as session:
        assert len(session.exec(select(Message).where(Message.kind == "forged_agent_reply")).all()) == 50
    clock.advance(hours=1)
    dovecot.append(SUPPORT_USER, mailbox, reply(sink, auth=(DMARC_FAIL,)))
    run_once(app)
    assert len(sink.messages) == before + 2  # the next hour: one more warning
