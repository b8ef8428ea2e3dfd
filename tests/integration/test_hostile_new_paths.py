"""Hostile mail against the newest code paths, end to end on Dovecot + the SMTP sink: huge Cc and To headers, our
own sub-addresses by the thousand, subjects of tags and brackets, long and repeated X-Original-To and Delivered-To,
agent answers full of commands, merges back and forth, a reply-all to every agent and order numbers by the 100,000.

Each hostile message is followed by a normal one. Within a few seconds the hostile one is stored (or quarantined
with a reason), the cycle completes, the normal one is stored and answered, both are marked on the server, and the
sink counts no extra or doubled mail: at most one receipt per message, none to an address of ours. The figures are
printed (`pytest -s`); the bound is generous so a loaded machine still passes and quadratic work still fails.
"""

from __future__ import annotations

import time
from collections import Counter
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from sqlmodel import Session, select

from mailbridge.base.clock import FixedClock
from mailbridge.decisions.own_addresses import is_ours
from mailbridge.store import agents, contacts, db
from mailbridge.store.models import Message, Ticket, TicketParticipant
from tests.conftest import SUPPORT_USER, customer_mail, run_once
from tests.integration.test_agents import LUCA, MARIA, agent_mail, mails, reply_to_of, text_of, to

# Seconds one daemon cycle (the hostile message and the normal one after it) may take.
BOUND = 10.0
WEBMASTER = "webmaster@shop.example"
ANNA = "anna@example.org"
NORMAL_SUBJECT = "Normal mail after the hostile one"
TOPICS = """
[topics.returns]
subaddress = "returns"
subject_tag = "Returns"
category = "Returns"
"""


@pytest.fixture
def desk(make_app, clock):
    """Agents Maria and Luca in "Customer service", a second Contact (Webmaster, no mailbox of its own, so mail
    written to its address is filed there) and a topic chosen by sub-address or subject tag."""
    app = make_app(extra=TOPICS)
    with db.transaction(app.engine) as session:
        for address in (MARIA, LUCA):
            agents.add_agent(
                session=session, email=address, name="", locale=None, contacts=["Customer service"], now=clock.now()
            )
        contacts.add_contact(session=session, name="Webmaster", columns={"email": WEBMASTER}, now=clock.now())
    return app


def raw_mail(headers: list[tuple[str, str]], body: str = "Hello.") -> bytes:
    """A mail written byte by byte (no library refolds or refuses the hostile headers), CRLF line ends."""
    lines = [f"{name}: {value}" for name, value in headers]
    base = [("Date", format_datetime(FixedClock().now())), ("Message-ID", make_msgid(domain="example.org"))]
    lines += [f"{name}: {value}" for name, value in base]
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body]
    return "\r\n".join(lines).encode() + b"\r\n"


def folded(pieces: list[str], separator: str, per_line: int = 50) -> str:
    """Join pieces with `separator`, folding the header after every `per_line` pieces."""
    rows = [separator.join(pieces[i : i + per_line]) for i in range(0, len(pieces), per_line)]
    return (separator.rstrip() + "\r\n ").join(rows) if separator.strip() else "\r\n ".join(rows)


def messages(app) -> list[Message]:
    with Session(app.engine) as session:
        return list(session.exec(select(Message).order_by(Message.id)))


def of_ours(app, address: str) -> bool:
    return is_ours(address, app.mail.own_addresses)


def deliver_timed(app, dovecot, mailbox, sink, raw: bytes, label: str, normal_sender: str) -> tuple[Message, list]:
    """Append the hostile mail and a normal one after it, run one cycle; check what every case must hold.

    Returns the hostile message's row and the mails the hostile one caused (those about the normal one left out).
    """
    before = len(sink.messages)
    hostile_uid = dovecot.append(SUPPORT_USER, mailbox, raw)
    normal_uid = dovecot.append(
        SUPPORT_USER, mailbox, customer_mail(sender=normal_sender, name="Normal", subject=NORMAL_SUBJECT)
    )
    start = time.perf_counter()
    run_once(app)
    elapsed = time.perf_counter() - start
    print(f"\n{label}: {len(raw):,} bytes, one cycle with the normal mail after it: {elapsed:.2f} s")
    assert elapsed < BOUND, f"{label}: the cycle took {elapsed:.2f} s"

    by_uid = {m.uid: m for m in messages(app)}
    hostile, normal = by_uid[hostile_uid], by_uid[normal_uid]
    assert hostile.kind != "quarantined" or hostile.defects, "quarantined without a reason"
    assert normal.kind == "customer" and normal.ticket_id is not None
    flags = dovecot.flags(SUPPORT_USER, mailbox)
    assert "\\Seen" in flags[hostile_uid] and "\\Seen" in flags[normal_uid]

    sent = sink.messages[before:]
    assert not [r for m in sent for r in m.rcpt_tos if of_ours(app, r)], "mail to an address of ours"
    ids = Counter(m.message["Message-ID"] for m in sent)
    assert all(n == 1 for n in ids.values()), "the same mail sent twice"
    receipts = Counter(r for m in sent if m.message["Auto-Submitted"] == "auto-replied" for r in m.rcpt_tos)
    assert all(n == 1 for n in receipts.values()), receipts
    assert receipts[normal_sender] == 1  # the normal mail got its receipt
    caused = [m for m in mails(sink)[before:] if NORMAL_SUBJECT not in str(m["Subject"])]

    # The next cycle finds nothing new: nothing stored or sent twice.
    stored, count = len(by_uid), len(sink.messages)
    run_once(app)
    assert len(messages(app)) == stored and len(sink.messages) == count
    return hostile, caused


def participants(app) -> list[TicketParticipant]:
    with Session(app.engine) as session:
        return list(session.exec(select(TicketParticipant)))


ADDRESSES_5000 = [f"person{n}@example.com" for n in range(5000)]
OURS_1000 = [f"support+t{n}@shop.example" for n in range(400)] + [f"webmaster+t{n}@shop.example" for n in range(400)]
OURS_1000 += [SUPPORT_USER, WEBMASTER] * 100
SUB_10KB = "support+" + "a" * 10_000 + "@shop.example"
PLUS_100KB = "support" + "+a" * 50_000 + "@shop.example"
WEB_PLUSES = "webmaster" + "+a" * 5_000 + "@shop.example"

CUSTOMER_CASES = {
    "cc of 5,000 addresses": [("Cc", folded(ADDRESSES_5000, ", "))],
    "cc of 200 KB of commas": [("Cc", folded([","] * 200_000, "", per_line=500))],
    "to of 1,000 of our addresses": [("To", folded(OURS_1000, ", ")), ("Cc", folded(OURS_1000, ", "))],
    "subject of 5,000 tags": [("Subject", folded(["[tag]"] * 4999 + ["[Returns]"], " "))],
    "subject of 100,000 [": [("Subject", "[" * 100_000)],
    "10 KB sub-address": [("To", SUB_10KB), ("Cc", WEB_PLUSES)],
    "100 KB sub-address of 50,000 tags": [
        ("To", PLUS_100KB),
        ("X-Original-To", PLUS_100KB),
        ("Delivered-To", PLUS_100KB),
    ],
    "X-Original-To and Delivered-To 1,000 times": [
        ("X-Original-To", f"webmaster+x{n}@shop.example") for n in range(1000)
    ]
    + [("Delivered-To", f"support+returns{n}@shop.example") for n in range(1000)],
    "X-Original-To of 100 KB": [("X-Original-To", "a" * 100_000 + "@shop.example"), ("Delivered-To", "<" * 100_000)],
}


@pytest.mark.parametrize("label", list(CUSTOMER_CASES))
def test_hostile_customer_mail_is_stored_and_the_mailbox_moves_on(desk, dovecot, mailbox, sink, label):
    headers = [("From", f"Anna <{ANNA}>"), *CUSTOMER_CASES[label]]
    if not any(name == "To" for name, _ in headers):
        headers.append(("To", SUPPORT_USER))
    if not any(name == "Subject" for name, _ in headers):
        headers.append(("Subject", "Where is my parcel?"))
    hostile, caused = deliver_timed(desk, dovecot, mailbox, sink, raw_mail(headers), label, "next@example.net")
    assert hostile.kind == "customer" and hostile.ticket_id is not None
    # One receipt to the sender, one notification to each agent of the Contact it was filed in (none when filed
    # in Webmaster, which has no agents); nothing to the people in Cc or To.
    assert sorted(r for m in caused for r in m["To"].addresses for r in [r.addr_spec]) in (
        [ANNA],
        sorted([ANNA, LUCA, MARIA]),
    )
    assert len(participants(desk)) <= 10
    assert not [p for p in participants(desk) if of_ours(desk, p.email) or p.email in (MARIA, LUCA)]


def test_order_number_pattern_100000_times_is_stored_with_the_first_number(desk, dovecot, mailbox, sink):
    raw = customer_mail(subject="Orders", body="Order #12345 order no. " * 100_000)
    hostile, caused = deliver_timed(desk, dovecot, mailbox, sink, raw, "order number 100,000 times", "n@example.net")
    assert hostile.order_number == "12345" and hostile.ticket_id is not None
    assert sorted(m["To"].addresses[0].addr_spec for m in caused) == sorted([ANNA, LUCA, MARIA])


def ticket_by_subject(app, subject: str) -> Ticket:
    with Session(app.engine) as session:
        return session.exec(select(Ticket).where(Ticket.subject == subject)).one()


def opened(app, dovecot, mailbox, sink, subject: str, sender: str = ANNA) -> tuple[Ticket, EmailMessage]:
    """A customer's new ticket and Maria's notification of it."""
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender=sender, subject=subject))
    run_once(app)
    ticket = ticket_by_subject(app, subject)
    [note] = [m for m in to(sink, MARIA) if ticket.number in str(m["Subject"]) and m["Reply-To"] is not None]
    return ticket, note


def reply(note: EmailMessage, body: str) -> bytes:
    return agent_mail(sender=MARIA, to_address=reply_to_of(note), body=body, notification=note)


AGENT_CASES = {
    "5,000 #cc add lines": "\n".join(f"#cc add {a}" for a in ADDRESSES_5000) + "\nThanks for waiting.",
    "a 1 MB command line": "#cc add " + "a" * 1_000_000 + "@example.com\nThanks for waiting.",
    "a 1 MB unknown command": "#" + "x" * 1_000_000 + "\nThanks for waiting.",
}


@pytest.mark.parametrize("label", list(AGENT_CASES))
def test_agent_answer_full_of_commands_is_handled_once(desk, dovecot, mailbox, sink, label):
    ticket, note = opened(desk, dovecot, mailbox, sink, "Broken lamp")
    hostile, caused = deliver_timed(
        desk, dovecot, mailbox, sink, reply(note, AGENT_CASES[label]), label, "next@example.net"
    )
    assert hostile.ticket_id == ticket.id
    # At most the answer to Anna (with at most 10 people in Cc) and one line back to Maria.
    assert len(caused) <= 2
    assert len([m for m in caused if m["To"].addresses[0].addr_spec == MARIA]) <= 1
    assert len(participants(desk)) <= 10
    for mail in caused:
        assert len(str(mail["To"])) + len(str(mail["Cc"] or "")) < 2_000  # no header made of the 1 MB line


def test_merge_into_itself_and_back_and_forth_is_refused_without_a_loop(desk, dovecot, mailbox, sink):
    a, note_a = opened(desk, dovecot, mailbox, sink, "Parcel A late")
    b, note_b = opened(desk, dovecot, mailbox, sink, "Parcel B late")

    itself, caused = deliver_timed(
        desk, dovecot, mailbox, sink, reply(note_b, f"#merge {b.number}"), "#merge self", "n1@example.net"
    )
    assert [m["To"].addresses[0].addr_spec for m in caused] == [MARIA]
    assert "cannot be merged into itself" in text_of(caused[0])
    assert ticket_by_subject(desk, "Parcel B late").status == "new"

    _, caused = deliver_timed(
        desk, dovecot, mailbox, sink, reply(note_a, f"#merge {b.number}"), "#merge A->B", "n2@example.net"
    )
    merged = ticket_by_subject(desk, "Parcel A late")
    assert (merged.status, merged.merged_into_id) == ("merged", b.id)
    assert len([m for m in caused if m["To"].addresses[0].addr_spec == ANNA]) <= 1  # one notice of the merge

    # B back into A, which is merged into B already: refused (B would be merged into itself), nothing moves.
    back, caused = deliver_timed(
        desk, dovecot, mailbox, sink, reply(note_b, f"#merge {a.number}"), "#merge B->A", "n3@example.net"
    )
    target = ticket_by_subject(desk, "Parcel B late")
    assert target.status != "merged" and target.merged_into_id is None
    assert ticket_by_subject(desk, "Parcel A late").merged_into_id == b.id
    assert [m["To"].addresses[0].addr_spec for m in caused] == [MARIA]
    assert back.ticket_id in (a.id, b.id)


def test_customer_reply_all_to_every_agent_and_our_addresses_reaches_none_of_them(desk, dovecot, mailbox, sink):
    ticket, _ = opened(desk, dovecot, mailbox, sink, "Blue vase")
    everyone = [MARIA, LUCA, SUPPORT_USER, WEBMASTER, "support+returns@shop.example", "webmaster+x@shop.example"]
    raw = customer_mail(
        subject=f"Re: [#{ticket.number}] Blue vase", body="Any news?", headers={"Cc": ", ".join(everyone)}
    )
    hostile, caused = deliver_timed(desk, dovecot, mailbox, sink, raw, "reply-all to every agent", "n@example.net")
    assert hostile.ticket_id == ticket.id and hostile.kind == "customer"
    # No receipt (the ticket is not new); one notification to each agent, none to our addresses.
    assert sorted(m["To"].addresses[0].addr_spec for m in caused) == sorted([LUCA, MARIA])
    assert all(m["Reply-To"] is not None for m in caused)
    assert participants(desk) == []
