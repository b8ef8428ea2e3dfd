"""Issue 19 (merge and split) end to end on Dovecot + the SMTP sink: `#merge NUMBER` in an agent's answer,
`tickets merge A B` and `tickets split NUMBER --from MESSAGE`, with the mail each causes counted at the sink.
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, col, select

from mailbridge.store import agents, db
from mailbridge.store.models import Message, OutboxMail, Ticket
from tests.conftest import customer_mail, run_once
from tests.conftest import run_cli as run_cli_at
from tests.integration.test_agents import (
    MARIA,
    agent_mail,
    deliver,
    reply_to_of,
    text_of,
    to,
)

ANNA = "anna@example.org"
BOB = "bob@example.org"


def ticket_of(app, subject: str) -> Ticket:
    with Session(app.engine) as session:
        return session.exec(select(Ticket).where(Ticket.subject == subject)).one()


def messages_on(app, ticket: Ticket) -> list[Message]:
    with Session(app.engine) as session:
        return list(session.exec(select(Message).where(Message.ticket_id == ticket.id).order_by(col(Message.id))))


def receipt_to(sink, address: str, number: str):
    [receipt] = [m for m in to(sink, address) if number in m["Subject"] and "opened ticket" in text_of(m)]
    return receipt


def merge_notices(sink, address: str) -> list:
    return [m for m in to(sink, address) if "is handled there from now on" in text_of(m)]


def surveys(sink, address: str) -> list:
    return [m for m in to(sink, address) if "+rate-" in text_of(m)]


def reply_to_mail(parent, *, sender: str, body: str) -> bytes:
    return customer_mail(sender=sender, subject="Re: " + parent["Subject"], body=body, in_reply_to=parent["Message-ID"])


@pytest.fixture
def two_tickets(make_app, clock, dovecot, mailbox, sink):
    """Maria in "Customer service"; Anna's ticket A ("Order 1234 not arrived") and a second ticket B."""

    def build(b_sender: str = ANNA, db_url: str | None = None):
        app = make_app(db_url=db_url)
        with db.transaction(app.engine) as session:
            agents.add_agent(
                session=session,
                email=MARIA,
                name="Maria Rossi",
                locale=None,
                contacts=["Customer service"],
                now=clock.now(),
            )
        deliver(app, dovecot, mailbox, customer_mail(sender=ANNA))
        deliver(app, dovecot, mailbox, customer_mail(sender=b_sender, name="Bob", subject="Parcel 1234 is late"))
        return app, ticket_of(app, "Order 1234 not arrived"), ticket_of(app, "Parcel 1234 is late")

    return build


def test_merge_by_an_agents_reply_tells_the_customer_once_and_later_mail_lands_in_the_target(
    two_tickets, dovecot, mailbox, sink, config_file, clock
):
    app, a, b = two_tickets()
    b_receipt = receipt_to(sink, ANNA, b.number)
    [notification] = [m for m in to(sink, MARIA) if b.number in m["Subject"] and m["Reply-To"] is not None]
    # A merge into the ticket itself is refused: one line back to Maria, nothing else happens.
    itself = agent_mail(
        sender=MARIA, to_address=reply_to_of(notification), body=f"#merge {b.number}", notification=notification
    )
    deliver(app, dovecot, mailbox, itself)
    [refusal] = [m for m in to(sink, MARIA) if "cannot be merged into itself" in text_of(m)]
    assert ticket_of(app, "Parcel 1234 is late").status == "new" and merge_notices(sink, ANNA) == []
    answer = agent_mail(
        sender=MARIA,
        to_address=reply_to_of(notification),
        body=f"#merge {a.number}\nSame parcel as her first ticket.",
        notification=notification,
    )
    deliver(app, dovecot, mailbox, answer)
    run_once(app)

    [notice] = merge_notices(sink, ANNA)
    assert b.number in notice["Subject"] and a.number in text_of(notice)
    assert b_receipt["Message-ID"] in notice["References"]  # threaded to what Anna saw of B
    assert notice["From"].addresses[0].addr_spec == "support@shop.example"  # the Contact's address
    assert not [m for m in to(sink, ANNA) if "Same parcel" in text_of(m)]  # the reply's text is a note on A
    merged = ticket_of(app, "Parcel 1234 is late")
    assert (merged.status, merged.merged_into_id) == ("merged", a.id)
    assert messages_on(app, merged) == []
    kinds = [m.kind for m in messages_on(app, a)]
    assert kinds.count("customer") == 2 and "agent_note" in kinds

    # Anna answers B's receipt: her mail lands in A, and nobody is told of the merge again.
    deliver(app, dovecot, mailbox, reply_to_mail(b_receipt, sender=ANNA, body="Any news on the parcel?"))
    assert [m.stripped_text for m in messages_on(app, a)][-1].startswith("Any news")
    assert len(merge_notices(sink, ANNA)) == 1

    for status in ("open", "closed"):  # handled, then closed: the one survey
        result = run_cli_at("tickets", "status", a.number, status, config=config_file(), clock=clock)
        assert result.returncode == 0, result.stderr
    run_once(app)
    [survey] = surveys(sink, ANNA)
    assert a.number in survey["Subject"]
    with Session(app.engine) as session:
        kinds = session.exec(select(OutboxMail.kind).where(OutboxMail.ticket_id == b.id)).all()
    assert "survey" not in kinds and kinds.count("merged") == 1


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_merge_from_the_cli_of_another_customers_ticket(
    two_tickets, dovecot, mailbox, sink, config_file, clock, request, database
):
    db_url = None
    if database == "postgres":
        db_url = request.getfixturevalue("postgres").create_database(f"merge{abs(hash(request.node.nodeid)) % 10**8}")
    app, a, b = two_tickets(b_sender=BOB, db_url=db_url)
    config = config_file(db_url=db_url)

    def cli(*args):
        return run_cli_at(*args, config=config, clock=clock)

    assert cli("tickets", "merge", a.number, a.number).stderr.strip() == (
        f"mailbridge: error: ticket {a.number} cannot be merged into itself"
    )
    result = cli("tickets", "merge", a.number, b.number)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{b.number} merged into {a.number} (1 message moved)"
    refused = cli("tickets", "merge", b.number, a.number)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"mailbridge: error: ticket {b.number} was merged into {a.number}: merging {a.number} into it would make a loop"
    )
    run_once(app)
    assert len(merge_notices(sink, BOB)) == 1 and merge_notices(sink, ANNA) == []

    # Bob's answer to his receipt lands in A; the answers on A still go to A's customer.
    deliver(app, dovecot, mailbox, reply_to_mail(receipt_to(sink, BOB, b.number), sender=BOB, body="Still late."))
    assert [m.from_addr for m in messages_on(app, a)] == [ANNA, BOB, BOB]
    detail = json.loads(cli("tickets", "show", a.number, "--json").stdout)
    assert detail["merged"] == [b.number] and detail["merged_into"] is None
    assert {e["ticket"] for e in detail["events"]} == {a.number, b.number}
    assert any(e["kind"] == "merged" and BOB in e["reason"] for e in detail["events"] if e["ticket"] == a.number)
    shown = cli("tickets", "show", b.number).stdout
    assert f"merged into ticket {a.number}" in shown and "status merged" in shown


def test_split_makes_a_new_topic_its_own_ticket_with_receipt_and_notification(
    two_tickets, dovecot, mailbox, sink, config_file, clock
):
    app, a, _ = two_tickets()
    a_receipt = receipt_to(sink, ANNA, a.number)
    deliver(app, dovecot, mailbox, reply_to_mail(a_receipt, sender=ANNA, body="Also, my invoice shows the wrong VAT."))
    new_topic = messages_on(app, a)[-1]
    assert "invoice" in (new_topic.stripped_text or "")
    sink.clear()

    result = run_cli_at("tickets", "split", a.number, "--from", str(new_topic.id), config=config_file(), clock=clock)
    assert result.returncode == 0, result.stderr
    number = result.stdout.split()[0]
    assert result.stdout.strip() == f"{number} split off {a.number} (1 message moved)"
    run_once(app)
    with Session(app.engine) as session:
        new = session.exec(select(Ticket).where(Ticket.number == number)).one()
    assert (new.customer_id, new.contact_id, new.status) == (a.customer_id, a.contact_id, "new")
    assert [m.id for m in messages_on(app, new)] == [new_topic.id]
    receipt = receipt_to(sink, ANNA, number)
    assert len(to(sink, ANNA)) == 1
    assert [m for m in to(sink, MARIA) if number in m["Subject"]]
    # Her answer to the new receipt lands in the new ticket; A keeps its first topic only.
    deliver(app, dovecot, mailbox, reply_to_mail(receipt, sender=ANNA, body="The invoice number is 77."))
    assert len(messages_on(app, new)) == 2 and len(messages_on(app, a)) == 1
    shown = run_cli_at("tickets", "show", a.number, config=config_file(), clock=clock).stdout
    assert f"moved to new ticket {number}" in shown
    refused = run_cli_at("tickets", "split", a.number, "--from", "999999", config=config_file(), clock=clock)
    assert refused.returncode == 1 and "message 999999 is not on ticket" in refused.stderr


def test_stats_count_a_merged_ticket_once_on_its_target(two_tickets, config_file, clock):
    """Two mails about one parcel were one request: after the merge, `stats` counts one ticket opened, its SLA once."""
    app, a, b = two_tickets(b_sender=BOB)

    def stats() -> dict:
        result = run_cli_at("stats", "--json", config=config_file(), clock=clock)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    clock.advance(days=10)  # neither was answered: both past their first-response time
    before = stats()
    assert (before["opened"], before["sla_breached"], before["presale"]) == (2, 2, 1)
    assert run_cli_at("tickets", "merge", a.number, b.number, config=config_file(), clock=clock).returncode == 0

    after = stats()
    assert (after["opened"], after["closed"], after["sla_breached"], after["presale"]) == (1, 0, 1, 0)
    assert [row["number"] for row in after["breaches"]] == [a.number]
    assert sum(point["opened"] for point in after["trend"]) == 1
    assert sum(row["opened"] for row in after["by_agent"]) == 1
    assert sum(row["opened"] for row in after["by_category"]) == 1
    assert sum(after["backlog"].values()) == 1
