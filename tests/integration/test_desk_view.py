"""Issue 14 items 6 and 7 end to end: an unknown `[[mailboxes]] contact` is a config error instead of a new
department, and the desk view (`tickets next|list|show`) shows every unanswered customer message, the assignee and
times in `[sla] timezone` with their offset.
"""

from __future__ import annotations

import email
import json
import re
from email import policy

import pytest
from sqlmodel import Session, select

from mailbridge.store import agents, db
from mailbridge.store.models import Contact, Message, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.integration.test_bounces import dsn_for
from tests.integration.test_contacts_cli import invoke
from tests.integration.test_ingest import run_ingest

MARIA = "maria@shop.example"
FIRST = "Hello, my order 1234 has not arrived yet."
FOLLOW_UP = "Any news? It is a birthday present."


def contact_names(app) -> set[str]:
    with Session(app.engine) as session:
        return set(session.exec(select(Contact.name)))


def name_contact(path, name: str, *, create: bool) -> None:
    """Make the test configuration's only mailbox name this Contact, with or without create_contact."""
    text = re.sub(r'(?m)^contact = ".*"$', f'contact = "{name}"', path.read_text())
    path.write_text(re.sub(r"(?m)^create_contact = \w+$", f"create_contact = {str(create).lower()}", text))


@pytest.fixture
def broken(make_app, config_file):
    """A database with "Customer service" and "Webmaster", and a configuration naming "Webmastr"."""
    app = make_app()
    path = config_file()
    assert invoke("--config", str(path), "contacts", "add", "Webmaster", "--address", "webmaster@shop.example")[0] == 0
    name_contact(path, "Webmastr", create=False)
    return app, path


def expected_error(path) -> str:
    return (
        f"mailbridge: error: {path}: [mailboxes.0] contact: no Contact named 'Webmastr' "
        "(known: Customer service, Webmaster); fix the name, add it with `mailbridge contacts add`, "
        "or set create_contact = true to create it"
    )


@pytest.mark.parametrize("command", [("config", "check"), ("run", "--once"), ("tickets", "list")])
def test_unknown_contact_is_one_config_error_line_and_creates_nothing(broken, command):
    app, path = broken
    code, out, err = invoke("--config", str(path), *command)
    assert code == 2 and err.strip() == expected_error(path) and "Traceback" not in err
    assert out == ""
    assert contact_names(app) == {"Customer service", "Webmaster"}


def test_unknown_contact_stops_ingest_of_files_and_tempfails_mail_from_the_mta(broken, tmp_path):
    app, path = broken
    (tmp_path / "one.eml").write_bytes(customer_mail())
    code, _out, err = invoke("--config", str(path), "ingest", str(tmp_path / "one.eml"))
    assert code == 2 and err.strip() == expected_error(path)
    piped = run_ingest(path, stdin=customer_mail())
    # A broken configuration must not bounce customer mail: 75 makes the MTA keep it and retry.
    assert piped.returncode == 75 and "no Contact named 'Webmastr'" in piped.stderr.decode()
    assert "Traceback" not in piped.stderr.decode()
    assert contact_names(app) == {"Customer service", "Webmaster"}


def test_contacts_commands_still_work_so_the_missing_contact_can_be_added(broken):
    app, path = broken
    code, out, _err = invoke("--config", str(path), "contacts", "list")
    assert code == 0 and "Webmaster" in out
    assert invoke("--config", str(path), "contacts", "add", "Webmastr", "--address", "webmastr@shop.example")[0] == 0
    assert invoke("--config", str(path), "config", "check")[0] == 0


def test_create_contact_true_creates_the_named_contact(broken, dovecot, sink, mailbox):
    app, path = broken
    name_contact(path, "Webmastr", create=True)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    code, _out, err = invoke("--config", str(path), "run", "--once")
    assert code == 0, err
    assert contact_names(app) == {"Customer service", "Webmaster", "Webmastr"}


# The desk view. The fixed clock starts at 2026-01-05 09:00 UTC: 10:00 in Europe/Rome, the default [sla] timezone.


@pytest.fixture
def desk(make_app, clock):
    app = make_app()
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


def cli(app, clock, *args: str):
    result = run_cli(*args, config=app.settings.path, clock=clock)
    assert result.returncode == 0, result.stderr
    return result.stdout


def receipt_id(sink) -> str:
    receipts = [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages]
    return [m for m in receipts if m["To"].addresses[0].addr_spec == "anna@example.org"][0]["Message-ID"]


def test_next_shows_the_original_request_first_and_the_follow_up_after_it(desk, clock, dovecot, sink, mailbox):
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(body=FIRST))
    run_once(desk)
    clock.advance(hours=2)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(body=FOLLOW_UP, in_reply_to=receipt_id(sink)))
    run_once(desk)
    shown = cli(desk, clock, "tickets", "next")
    assert "2 unanswered messages" in shown and "waiting since 2026-01-05 10:00:00 +01:00" in shown
    assert FIRST in shown and FOLLOW_UP in shown and shown.index(FIRST) < shown.index(FOLLOW_UP)
    row = json.loads(cli(desk, clock, "tickets", "next", "--json"))
    assert [m["text"].strip() for m in row["unanswered"]] == [FIRST, FOLLOW_UP]
    assert row["message_id"] == row["unanswered"][0]["id"] and row["text"].strip() == FIRST
    assert [m["stored_at"] for m in row["unanswered"]] == ["2026-01-05T10:00:00+01:00", "2026-01-05T12:00:00+01:00"]


def test_next_after_an_answer_shows_only_what_the_customer_wrote_since(desk, clock, dovecot, sink, mailbox, tmp_path):
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(body=FIRST))
    run_once(desk)
    number = the_ticket(desk).number
    (tmp_path / "answer.txt").write_text("It left our warehouse today.", encoding="utf-8")
    cli(desk, clock, "tickets", "reply", number, "--from", MARIA, "--file", str(tmp_path / "answer.txt"))
    assert cli(desk, clock, "tickets", "next").strip() == "nothing waiting"
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(body=FOLLOW_UP, in_reply_to=receipt_id(sink)))
    run_once(desk)
    row = json.loads(cli(desk, clock, "tickets", "next", "--json"))
    assert row["number"] == number and row["status"] == "open"
    assert [m["text"].strip() for m in row["unanswered"]] == [FOLLOW_UP]


def test_a_bounce_in_the_ticket_does_not_hide_it_from_next(desk, clock, dovecot, sink, mailbox):
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="gone@example.org", body=FIRST))
    run_once(desk)
    [receipt] = [m for m in sink.messages if "gone@example.org" in m.rcpt_tos]
    dovecot.append(SUPPORT_USER, mailbox, dsn_for(receipt.data, "gone@example.org"))
    run_once(desk)
    assert [m.kind for m in messages_of(desk)] == ["customer", "bounce"]
    row = json.loads(cli(desk, clock, "tickets", "next", "--json"))
    assert row["number"] == the_ticket(desk).number and row["customer"] == "gone@example.org"
    assert [m["text"].strip() for m in row["unanswered"]] == [FIRST]


def test_an_auto_reply_in_the_ticket_does_not_hide_it_from_next(desk, clock, dovecot, sink, mailbox):
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(body=FIRST))
    run_once(desk)
    out_of_office = customer_mail(
        body="I am away until Monday.", in_reply_to=receipt_id(sink), headers={"Auto-Submitted": "auto-replied"}
    )
    dovecot.append(SUPPORT_USER, mailbox, out_of_office)
    run_once(desk)
    assert [m.kind for m in messages_of(desk)] == ["customer", "auto_reply"]
    shown = cli(desk, clock, "tickets", "next")
    assert FIRST in shown and "1 unanswered message\n" in shown and "away until Monday" not in shown


def test_assignee_is_shown_by_list_and_show_in_text_and_json(desk, clock, dovecot, mailbox):
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(desk)
    number = the_ticket(desk).number
    assert "unassigned" in cli(desk, clock, "tickets", "list")
    assert json.loads(cli(desk, clock, "tickets", "show", number, "--json"))["assigned_agent"] is None
    cli(desk, clock, "tickets", "assign", number, MARIA)
    assert "Maria Rossi <maria@shop.example>" in cli(desk, clock, "tickets", "list")
    assert "  assigned to Maria Rossi <maria@shop.example>\n" in cli(desk, clock, "tickets", "show", number)
    [listed] = json.loads(cli(desk, clock, "tickets", "list", "--json"))
    shown = json.loads(cli(desk, clock, "tickets", "show", number, "--json"))
    for row in (listed, shown):
        assert (row["assigned_agent"], row["assigned_agent_name"]) == (MARIA, "Maria Rossi")


def test_times_are_shown_in_the_sla_timezone_with_offset_to_the_second(make_app, clock, dovecot, mailbox):
    app = make_app(extra='[sla]\ntimezone = "America/New_York"\n')
    clock.advance(seconds=7.25)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    number = the_ticket(app).number
    listed = cli(app, clock, "tickets", "list")
    shown = cli(app, clock, "tickets", "show", number)
    assert "2026-01-05 04:00:07 -05:00" in listed
    assert "  created 2026-01-05 04:00:07 -05:00, updated 2026-01-05 04:00:07 -05:00\n" in shown
    assert "\n  2026-01-05 04:00:07 -05:00 " in shown  # the history
    assert ".25" not in listed + shown and "+00:00" not in listed + shown
    [row] = json.loads(cli(app, clock, "tickets", "list", "--json"))
    detail = json.loads(cli(app, clock, "tickets", "show", number, "--json"))
    assert row["created_at"] == detail["created_at"] == "2026-01-05T04:00:07-05:00"
    assert detail["events"][0]["at"] == "2026-01-05T04:00:07-05:00"
    assert "waiting since 2026-01-05 04:00:07 -05:00" in cli(app, clock, "tickets", "next")
    customer = cli(app, clock, "customers", "show", "anna@example.org")
    assert "first contact 2026-01-05 04:00:07 -05:00" in customer and ".25" not in customer
    history = json.loads(cli(app, clock, "customers", "show", "anna@example.org", "--json"))
    assert history["tickets"][0]["created_at"] == "2026-01-05T04:00:07-05:00"


def the_ticket(app) -> Ticket:
    with Session(app.engine) as session:
        return session.exec(select(Ticket)).one()


def messages_of(app) -> list[Message]:
    with Session(app.engine) as session:
        return list(session.exec(select(Message).order_by(Message.id)))
