"""Issue 19 end to end on Dovecot + the SMTP sink: named actions (`#return`, `#escalate`, `tickets action`), the
topic a customer picks by sub-address or subject tag, and the pre-sale flag in lists and stats."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from mailbridge.store import agents, db
from mailbridge.store.models import Ticket
from tests.conftest import customer_mail, run_once
from tests.conftest import run_cli as run_cli_at
from tests.integration.test_agents import MARIA, answer, deliver, notification_for, text_of, the_ticket, to

CUSTOMER = "anna@example.org"
TEAM = "first-level@shop.example"
ACTIONS = f"""
[actions.return]
description = "start a return for inspection"
template = "action_return"
status = "waiting"
category = "Returns"

[actions.escalate]
description = "hand the ticket to the first-level team"
template = "action_escalate"
status = "pending1"
forward_to = "{TEAM}"

[topics.returns]
subaddress = "returns"
subject_tag = "Returns"
category = "Returns"
"""


@pytest.fixture
def desk(make_app, clock, dovecot, sink, mailbox):
    """An app with the two shipped example actions, agent Maria, and one customer ticket (naming order 1234)."""
    app = make_app(extra=ACTIONS)
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session,
            email=MARIA,
            name="Maria Rossi",
            locale=None,
            contacts=["Customer service"],
            now=clock.now(),
        )
    deliver(app, dovecot, mailbox, customer_mail())
    return app


def tickets_of(app) -> list[Ticket]:
    with Session(app.engine) as session:
        return list(session.exec(select(Ticket).order_by(Ticket.id)))


def test_the_notification_lists_the_configured_actions_with_the_commands(desk, sink):
    notification = notification_for(sink, MARIA)
    assert "#cc add|remove EMAIL #merge NUMBER #cancel #send #return #escalate" in text_of(notification).splitlines()
    html = notification.get_body(("html",)).get_content()
    assert "#cc add|remove EMAIL #merge NUMBER #cancel #send #return #escalate<br>" in html


def test_return_action_mails_the_instructions_and_sets_status_and_category(desk, dovecot, mailbox, sink):
    [receipt] = to(sink, CUSTOMER)
    answer(desk, dovecot, mailbox, sink, "#return\nPlease add the power cable to the parcel.\n")
    receipt_again, returned = to(sink, CUSTOMER)
    assert receipt_again["Message-ID"] == receipt["Message-ID"]
    body = text_of(returned)
    assert "return for inspection" in body and "Please add the power cable to the parcel." in body
    assert returned["From"].addresses[0].addr_spec == "support@shop.example"
    assert returned["In-Reply-To"] is not None and "Auto-Submitted" not in returned
    ticket = the_ticket(desk)
    assert (ticket.status, ticket.category, ticket.assigned_agent) == ("waiting", "Returns", MARIA)
    assert ticket.first_response_at is not None


def test_escalate_hands_the_thread_to_the_team_and_tells_the_customer(desk, dovecot, mailbox, sink):
    answer(desk, dovecot, mailbox, sink, "#escalate\nThe lamp flickers after a firmware update: please check.\n")
    [team] = to(sink, TEAM)
    assert "please check" in text_of(team) and "my order has not arrived yet" in text_of(team)
    told = to(sink, CUSTOMER)[-1]
    assert "specialist team" in text_of(told) and "please check" not in text_of(told)
    assert len(to(sink, CUSTOMER)) == 2  # the receipt, then the escalation notice
    assert the_ticket(desk).status == "pending1"


def test_tickets_action_runs_an_action_from_the_cli(desk, config_file, clock, sink):
    number = the_ticket(desk).number
    config = config_file(schema=False, extra=ACTIONS)
    result = run_cli_at("tickets", "action", number, "return", "--agent", MARIA, config=config, clock=clock)
    assert result.returncode == 0 and result.stdout.strip() == f"{number} return done"
    run_once(desk)
    assert "return for inspection" in text_of(to(sink, CUSTOMER)[-1])
    assert (the_ticket(desk).status, the_ticket(desk).category) == ("waiting", "Returns")
    unknown = run_cli_at("tickets", "action", number, "refund", "--agent", MARIA, config=config, clock=clock)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "mailbridge: error: no action named 'refund' (configured: return, escalate)"


def test_sub_address_and_subject_tag_pick_the_topic(desk, dovecot, mailbox, sink):
    deliver(
        desk,
        dovecot,
        mailbox,
        customer_mail(sender="ben@example.org", subject="Lamp", headers={"Cc": "support+Returns@shop.example"}),
    )
    deliver(desk, dovecot, mailbox, customer_mail(sender="cleo@example.org", subject="[Returns] broken lamp"))
    deliver(desk, dovecot, mailbox, customer_mail(sender="dan@example.org", subject="Returns policy?"))
    categories = [t.category for t in tickets_of(desk)]
    assert categories == [None, "Returns", "Returns", None]
    assert len(to(sink, "ben@example.org")) == len(to(sink, "cleo@example.org")) == 1  # their receipts


def test_first_contact_without_order_number_is_presale(desk, dovecot, mailbox, sink, config_file, clock):
    deliver(desk, dovecot, mailbox, customer_mail(sender="eva@example.org", subject="Does the lamp fit E27?"))
    deliver(desk, dovecot, mailbox, customer_mail(sender="eva@example.org", subject="And in blue?"))
    deliver(desk, dovecot, mailbox, customer_mail(sender="finn@example.org", subject="Where is order 99881?"))
    flags = [(t.subject, t.presale) for t in tickets_of(desk)]
    assert flags == [
        ("Order 1234 not arrived", False),
        ("Does the lamp fit E27?", True),
        ("And in blue?", False),  # eva had a ticket already
        ("Where is order 99881?", False),
    ]
    config = config_file(schema=False, extra=ACTIONS)
    listed = run_cli_at("tickets", "list", config=config, clock=clock).stdout
    assert [line for line in listed.splitlines() if "(pre-sale)" in line] == [
        line for line in listed.splitlines() if "Does the lamp fit E27?" in line
    ]
    rows = json.loads(run_cli_at("tickets", "list", "--json", config=config, clock=clock).stdout)
    assert sorted(r["subject"] for r in rows if r["presale"]) == ["Does the lamp fit E27?"]
    stats = json.loads(run_cli_at("stats", "--json", config=config, clock=clock).stdout)
    assert (stats["opened"], stats["presale"]) == (4, 1)
    number = next(r["number"] for r in rows if r["presale"])
    shown = run_cli_at("tickets", "show", number, config=config, clock=clock).stdout
    assert "pre-sale" in shown


def test_presale_flag_can_be_turned_off(make_app, dovecot, mailbox):
    app = make_app(extra_support="presale_flag = false")
    deliver(app, dovecot, mailbox, customer_mail(subject="Does the lamp fit E27?"))
    assert [t.presale for t in tickets_of(app)] == [False]
