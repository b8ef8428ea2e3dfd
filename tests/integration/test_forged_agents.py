"""Issue 16 end to end on Dovecot + the SMTP sink: forged agent replies and `#requester` forwards.

A reply with a valid agent token is relayed only with one clear From and, when `[support] authserv_id`
is set, a pass for the agent's domain from our receiving server; a `#requester` forward counts only at
the agent's signed reply address.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from mailbridge.store import agents, db
from mailbridge.store.models import Customer, Message, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.integration.test_agents import (
    CUSTOMER,
    MARIA,
    agent_mail,
    mails,
    notification_for,
    reply_to_of,
    text_of,
    to,
)

OURS = "mx.shop.example"
ANSWER = "Refund granted, send your bank details."
DMARC_PASS = f"{OURS}; dmarc=pass (p=reject dis=none) header.from=shop.example"
DMARC_FAIL = f"{OURS}; dmarc=fail (p=reject dis=none) header.from=shop.example"
FORGED_PASS = "mx.attacker.example; dmarc=pass header.from=shop.example; dkim=pass header.d=shop.example"
REQUESTER = (
    "#requester\n\n---------- Forwarded message ---------\nFrom: Paolo Verdi <paolo@example.net>\n"
    "Date: Mon, 4 Jan 2026 at 18:00\nSubject: Broken lamp\nTo: Maria Rossi <maria@shop.example>\n\n"
    "The lamp arrived broken.\n"
)


def open_desk(app, dovecot, mailbox, clock):
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session,
            email=MARIA,
            name="Maria Rossi",
            locale=None,
            contacts=["Customer service"],
            now=clock.now(),
        )
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    return app


@pytest.fixture
def guarded(make_app, clock, dovecot, sink, mailbox):
    """A desk whose receiving server is known: `[support] authserv_id = "mx.shop.example"`."""
    return open_desk(make_app(extra_support=f'authserv_id = "{OURS}"'), dovecot, mailbox, clock)


@pytest.fixture
def trusting(make_app, clock, dovecot, sink, mailbox):
    """A desk without `authserv_id`: the token and the topmost Authentication-Results decide."""
    return open_desk(make_app(), dovecot, mailbox, clock)


def reply(sink, *, auth: tuple[str, ...] = (), from_header: str | None = None, body: str = ANSWER) -> bytes:
    """Maria's answer to her notification, with Authentication-Results on top (as receiving servers add them)."""
    raw = agent_mail(sender=MARIA, to_address=reply_to_of(notification_for(sink, MARIA)), body=body)
    if from_header is not None:
        raw = raw.replace(f"From: Agent <{MARIA}>".encode(), f"From: {from_header}".encode(), 1)
    return b"".join(f"Authentication-Results: {a}\r\n".encode() for a in auth) + raw


def deliver(app, dovecot, mailbox, sink, raw: bytes) -> list:
    before = len(sink.messages)
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)
    return mails(sink)[before:]


def assert_refused(app, new, verdict: str) -> None:
    assert not [m for m in new if m["To"].addresses[0].addr_spec == CUSTOMER]
    [warning] = new
    assert warning["To"].addresses[0].addr_spec == MARIA and "NOT relayed" in text_of(warning)
    with Session(app.engine) as session:
        [row] = session.exec(select(Message).where(Message.kind == "forged_agent_reply")).all()
    assert f"not relayed: {verdict}" in row.defects


def relayed(new) -> list:
    return [m for m in new if m["To"].addresses[0].addr_spec == CUSTOMER and ANSWER in text_of(m)]


def test_dmarc_fail_from_our_server_is_not_relayed_and_agent_warned(guarded, dovecot, mailbox, sink):
    new = deliver(guarded, dovecot, mailbox, sink, reply(sink, auth=(DMARC_FAIL,)))
    assert_refused(guarded, new, "auth_failed")


def test_forged_pass_under_another_authserv_id_is_ignored(guarded, dovecot, mailbox, sink):
    new = deliver(guarded, dovecot, mailbox, sink, reply(sink, auth=(FORGED_PASS,)))
    assert_refused(guarded, new, "auth_failed")  # no verdict from our receiving server


def test_forged_pass_above_our_fail_does_not_hide_it(guarded, dovecot, mailbox, sink):
    new = deliver(guarded, dovecot, mailbox, sink, reply(sink, auth=(FORGED_PASS, DMARC_FAIL)))
    assert_refused(guarded, new, "auth_failed")


def test_real_pass_from_our_server_is_relayed(guarded, dovecot, mailbox, sink):
    new = deliver(guarded, dovecot, mailbox, sink, reply(sink, auth=(DMARC_PASS,)))
    assert len(relayed(new)) == 1
    with Session(guarded.engine) as session:
        assert not session.exec(select(Message).where(Message.kind == "forged_agent_reply")).all()


def test_forged_fail_under_another_authserv_id_does_not_block_our_pass(guarded, dovecot, mailbox, sink):
    forged_fail = "mx.attacker.example; dmarc=fail header.from=shop.example"
    new = deliver(guarded, dovecot, mailbox, sink, reply(sink, auth=(forged_fail, DMARC_PASS)))
    assert len(relayed(new)) == 1


@pytest.mark.parametrize(
    "from_header",
    [
        f"{MARIA}, mallory@attacker.example",
        f"{MARIA} <mallory@attacker.example>",
        f'"{MARIA}" <{MARIA}>, <x@y.example>',
    ],
)
def test_ambiguous_from_is_not_relayed_even_with_our_pass(guarded, dovecot, mailbox, sink, from_header):
    new = deliver(guarded, dovecot, mailbox, sink, reply(sink, auth=(DMARC_PASS,), from_header=from_header))
    assert_refused(guarded, new, "ambiguous_sender")


def test_without_authserv_id_dmarc_fail_in_the_topmost_header_is_not_relayed(trusting, dovecot, mailbox, sink):
    new = deliver(trusting, dovecot, mailbox, sink, reply(sink, auth=(DMARC_FAIL,)))
    assert_refused(trusting, new, "auth_failed")


def test_without_authserv_id_two_address_from_is_not_relayed(trusting, dovecot, mailbox, sink):
    new = deliver(trusting, dovecot, mailbox, sink, reply(sink, from_header=f"{MARIA}, mallory@attacker.example"))
    assert_refused(trusting, new, "ambiguous_sender")


def test_requester_forward_without_token_opens_no_ticket_for_the_customer(trusting, dovecot, mailbox, sink):
    forged = agent_mail(sender=MARIA, to_address=SUPPORT_USER, body=REQUESTER)
    deliver(trusting, dovecot, mailbox, sink, forged)
    with Session(trusting.engine) as session:
        customers = [c.email for c in session.exec(select(Customer)).all()]
        tickets = session.exec(select(Ticket)).all()
    assert "paolo@example.net" not in customers
    assert not [t for t in tickets if t.assigned_agent == MARIA]
    # It is stored as ordinary mail from its From address, not lost.
    assert MARIA in customers and len(tickets) == 2


def test_requester_forward_to_the_signed_address_opens_the_customers_ticket(guarded, dovecot, mailbox, sink):
    new = deliver(guarded, dovecot, mailbox, sink, reply(sink, auth=(DMARC_PASS,), body=REQUESTER))
    with Session(guarded.engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.subject == "Broken lamp")).one()
        customer = session.get(Customer, ticket.customer_id)
    assert customer.email == "paolo@example.net" and ticket.assigned_agent == MARIA
    with Session(guarded.engine) as session:
        row = session.exec(select(Message).where(Message.ticket_id == ticket.id)).one()
    assert (row.kind, row.stripped_text) == ("customer", "The lamp arrived broken.")
    # As before issue 16: the forwarded customer gets no receipt, and no reply reaches the first ticket's customer.
    assert not to(sink, "paolo@example.net")
    assert not [m for m in new if m["To"].addresses[0].addr_spec == CUSTOMER]


def test_requester_forward_to_the_signed_address_failing_dmarc_opens_nothing(guarded, dovecot, mailbox, sink):
    new = deliver(guarded, dovecot, mailbox, sink, reply(sink, auth=(DMARC_FAIL,), body=REQUESTER))
    assert_refused(guarded, new, "auth_failed")
    with Session(guarded.engine) as session:
        assert not session.exec(select(Ticket).where(Ticket.subject == "Broken lamp")).all()


def test_config_check_warns_once_when_authserv_id_is_not_set(make_app, guarded):
    warned = run_cli("config", "check", config=make_app().settings.path)
    lines = [line for line in warned.stderr.splitlines() if "authserv_id" in line]
    assert warned.returncode == 0 and len(lines) == 1 and "agent token" in lines[0]
    quiet = run_cli("config", "check", config=make_app(extra_support=f'authserv_id = "{OURS}"').settings.path)
    assert quiet.returncode == 0 and "authserv_id" not in quiet.stderr
