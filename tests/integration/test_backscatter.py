"""Issue 16 (no backscatter) end to end on Dovecot + the SMTP sink: mail our receiving server judged spam, mail
failing DMARC and mail from a blocked sender is stored on a `spam` ticket and causes no mail at all; an agent's
`#spam` blocks the sender, `customers unblock` undoes it."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from mailbridge.store import agents, db
from mailbridge.store.models import Message, Ticket, TicketEvent
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.integration.test_agents import MARIA, agent_mail, notification_for, reply_to_of, to

OURS = "mx.shop.example"
SPAMMER = "offers@bulk.example"


@pytest.fixture
def desk(make_app, clock, dovecot, sink, mailbox):
    """A desk with agent Maria in "Customer service" whose receiving server is `mx.shop.example`."""
    app = make_app(extra_support=f'authserv_id = "{OURS}"')
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


def tickets_of(app, sender: str) -> list[Ticket]:
    with Session(app.engine) as session:
        rows = session.exec(select(Message.ticket_id).where(Message.from_addr == sender)).all()
        return [session.get(Ticket, ticket_id) for ticket_id in dict.fromkeys(rows)]


def events_of(app, ticket: Ticket) -> list[str]:
    with Session(app.engine) as session:
        return [e.reason for e in session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))]


def assert_stored_as_silent_spam(app, sink, sender: str, reason: str) -> None:
    [ticket] = tickets_of(app, sender)
    assert ticket.status == "spam"
    assert sink.messages == [], [m.rcpt_tos for m in sink.messages]  # no receipt, no agent notification
    assert any(reason in line for line in events_of(app, ticket))


def test_spam_flagged_mail_is_stored_without_receipt_or_notification(desk, dovecot, mailbox, sink):
    deliver(desk, dovecot, mailbox, customer_mail(sender=SPAMMER, headers={"X-Spam-Flag": "YES"}))
    assert_stored_as_silent_spam(desk, sink, SPAMMER, "spam verdict: X-Spam-Flag: YES")


def test_spam_score_over_the_threshold_gets_no_receipt(desk, dovecot, mailbox, sink):
    status = "Yes, score=11.3 required=5.0 tests=BAYES_99,URIBL_BLACK autolearn=no"
    deliver(desk, dovecot, mailbox, customer_mail(sender=SPAMMER, headers={"X-Spam-Status": status}))
    assert_stored_as_silent_spam(desk, sink, SPAMMER, "X-Spam-Status: Yes")


def test_rspamd_score_over_the_threshold_gets_no_receipt(desk, dovecot, mailbox, sink):
    deliver(desk, dovecot, mailbox, customer_mail(sender=SPAMMER, headers={"X-Rspamd-Score": "9.1"}))
    assert_stored_as_silent_spam(desk, sink, SPAMMER, "X-Rspamd-Score 9.1 >= 5")


def test_dmarc_fail_from_our_server_gets_no_receipt(desk, dovecot, mailbox, sink):
    # A forged From: the receipt would go to someone who never wrote to us.
    auth = f"{OURS}; dmarc=fail (p=none dis=none) header.from=example.org"
    deliver(desk, dovecot, mailbox, customer_mail(headers={"Authentication-Results": auth}))
    assert_stored_as_silent_spam(desk, sink, "anna@example.org", "dmarc=fail for example.org")


def test_dmarc_fail_claimed_by_another_server_still_gets_a_receipt(desk, dovecot, mailbox, sink):
    auth = "mx.elsewhere.example; dmarc=fail header.from=example.org"
    deliver(desk, dovecot, mailbox, customer_mail(headers={"Authentication-Results": auth}))
    [ticket] = tickets_of(desk, "anna@example.org")
    assert ticket.status == "new"
    assert len(to(sink, "anna@example.org")) == 1 and len(to(sink, MARIA)) == 1


def test_blocked_domain_is_stored_as_spam_until_unblocked(desk, dovecot, mailbox, sink, clock):
    config = desk.settings.path
    blocked = run_cli("customers", "block", "@Bulk.example", "--reason", "bulk offers", config=config, clock=clock)
    assert (blocked.returncode, blocked.stdout) == (0, "blocked @bulk.example\n")
    again = run_cli("customers", "block", "@bulk.example", config=config, clock=clock)
    assert again.stdout == "@bulk.example was blocked already\n"
    listed = json.loads(run_cli("customers", "blocked", "--json", config=config).stdout)
    assert [(r["entry"], r["actor"], r["reason"]) for r in listed] == [("@bulk.example", "cli", "bulk offers")]

    subdomain_sender = "news@mail.bulk.example"
    deliver(desk, dovecot, mailbox, customer_mail(sender=subdomain_sender, subject="Offer"))
    assert_stored_as_silent_spam(desk, sink, subdomain_sender, "blocked sender (@bulk.example)")

    assert run_cli("customers", "unblock", "@bulk.example", config=config).stdout == "unblocked @bulk.example\n"
    deliver(desk, dovecot, mailbox, customer_mail(sender=subdomain_sender, subject="Another offer"))
    assert len(to(sink, subdomain_sender)) == 1  # handled as usual again: a receipt
    missing = run_cli("customers", "unblock", "@bulk.example", config=config)
    assert missing.returncode == 1 and "is not blocked" in missing.stderr


def test_bad_block_entry_is_refused_in_one_line(desk):
    result = run_cli("customers", "block", "bulk.example", config=desk.settings.path)
    assert result.returncode == 1 and "expected an address like spam@example.com" in result.stderr


def test_spam_command_blocks_the_sender_and_unblock_undoes_it(desk, dovecot, mailbox, sink, clock):
    customer = "lucky@winner.example"
    deliver(desk, dovecot, mailbox, customer_mail(sender=customer, subject="You won"))
    assert len(to(sink, customer)) == 1  # the receipt: nothing looked like spam yet
    notification = notification_for(sink, MARIA)
    passed = {"Authentication-Results": f"{OURS}; dmarc=pass header.from=shop.example"}
    answer = agent_mail(sender=MARIA, to_address=reply_to_of(notification), body="#spam\n", headers=passed)
    deliver(desk, dovecot, mailbox, answer)
    [ticket] = tickets_of(desk, customer)
    assert ticket.status == "spam"
    listed = json.loads(run_cli("customers", "blocked", "--json", config=desk.settings.path).stdout)
    assert [(r["entry"], r["actor"]) for r in listed] == [(customer, f"agent:{MARIA}")]
    assert f"#spam on ticket #{ticket.number}" in listed[0]["reason"]

    sent = len(sink.messages)
    clock.advance(minutes=30)
    deliver(desk, dovecot, mailbox, customer_mail(sender=customer, subject="You won again"))
    assert len(sink.messages) == sent  # no receipt, no notification
    assert {t.status for t in tickets_of(desk, customer)} == {"spam"}

    assert run_cli("customers", "unblock", customer, config=desk.settings.path).returncode == 0
    clock.advance(minutes=30)
    deliver(desk, dovecot, mailbox, customer_mail(sender=customer, subject="A real question"))
    assert len(to(sink, customer)) == 2 and len(sink.messages) == sent + 2  # a receipt and Maria's notification


def test_reply_to_a_ticket_marked_spam_is_stored_and_tells_no_one(desk, dovecot, mailbox, sink, clock):
    deliver(desk, dovecot, mailbox, customer_mail(subject="Cheap watches"))
    [ticket] = tickets_of(desk, "anna@example.org")
    marked = run_cli("tickets", "status", ticket.number, "spam", config=desk.settings.path, clock=clock)
    assert marked.returncode == 0, marked.stderr
    sent = len(sink.messages)
    clock.advance(minutes=5)
    deliver(desk, dovecot, mailbox, customer_mail(subject=f"Re: [#{ticket.number}] Cheap watches", body="Buy now"))
    with Session(desk.engine) as session:
        assert len(session.exec(select(Message).where(Message.ticket_id == ticket.id)).all()) == 2
    assert tickets_of(desk, "anna@example.org")[0].status == "spam"
    assert len(sink.messages) == sent
