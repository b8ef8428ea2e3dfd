"""Issue 4 end to end on Dovecot + the SMTP sink, with the fixed clock moving forward: threading rules,
auto-close, reopen, linked tickets after the reopen window, the handling notice, SLA escalation, search.
"""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email import policy

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from mailbridge.decisions.kinds import TicketStatus
from mailbridge.runtime import timers
from mailbridge.runtime.desk import change_status
from mailbridge.store import db
from mailbridge.store.models import Contact, Message, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once

AGENT = "agent:maria@shop.example"


def tickets(app) -> list[Ticket]:
    with Session(app.engine) as session:
        return list(session.exec(select(Ticket).order_by(Ticket.id)))


def reasons(app) -> list[str]:
    with Session(app.engine) as session:
        return [m.match_reason for m in session.exec(select(Message).order_by(Message.id))]


def mails(sink) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages]


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def deliver(app, dovecot, mailbox, raw: bytes) -> None:
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)


def waiting_ticket(app, dovecot, mailbox) -> Ticket:
    """A ticket an agent answered (new -> waiting), with its receipt and handling notice sent."""
    deliver(app, dovecot, mailbox, customer_mail())
    [ticket] = tickets(app)
    change_status(app, ticket.number, TicketStatus.WAITING, AGENT)
    run_once(app)
    return ticket


def test_waiting_ticket_closes_after_five_days_and_not_before(make_app, clock, dovecot, sink, mailbox):
    app = make_app()
    ticket = waiting_ticket(app, dovecot, mailbox)
    assert len(sink.messages) == 2
    clock.advance(days=4, hours=23, minutes=59)
    run_once(app)
    # Not closed yet; within [support] auto_close_reminder_hours (24 by default) the customer was reminded, once.
    assert tickets(app)[0].status == "waiting" and len(sink.messages) == 3
    run_once(app)
    assert len(sink.messages) == 3
    clock.advance(minutes=1)
    run_once(app)
    run_once(app)
    [closed] = tickets(app)
    assert closed.status == "closed"
    # Closing sends the auto-close notice and the satisfaction survey.
    assert len(sink.messages) == 5
    [notice] = [m for m in mails(sink)[3:] if "5 days" in text_of(m)]
    assert notice["Auto-Submitted"] == "auto-generated" and f"[#{ticket.number}]" in notice["Subject"]
    assert "5 days" in text_of(notice) and f"Ticket: [#{ticket.number}]" in text_of(notice)


def test_handling_notice_is_sent_once_when_the_ticket_first_leaves_new(make_app, dovecot, sink, mailbox):
    app = make_app()
    deliver(app, dovecot, mailbox, customer_mail())
    [ticket] = tickets(app)
    change_status(app, ticket.number, TicketStatus.OPEN, AGENT)
    change_status(app, ticket.number, TicketStatus.WAITING, AGENT)
    change_status(app, ticket.number, TicketStatus.OPEN, AGENT)
    run_once(app)
    receipt, notice = mails(sink)
    assert "started handling" in text_of(notice) and notice["In-Reply-To"] == receipt["In-Reply-To"]
    assert notice["Auto-Submitted"] == "auto-generated"


def test_reply_within_window_reopens_the_closed_ticket(make_app, clock, dovecot, sink, mailbox):
    app = make_app()
    waiting_ticket(app, dovecot, mailbox)
    clock.advance(days=5)
    run_once(app)
    closing_notice = mails(sink)[-1]
    clock.advance(days=29)
    deliver(
        app,
        dovecot,
        mailbox,
        customer_mail(
            subject="Re: " + closing_notice["Subject"], body="Still missing!", in_reply_to=closing_notice["Message-ID"]
        ),
    )
    [ticket] = tickets(app)
    assert ticket.status == "open" and reasons(app)[-1] == "in_reply_to"
    assert len(sink.messages) == 4  # receipt, handling notice, closing notice, survey: no new receipt


def test_reply_after_window_opens_a_new_linked_ticket(make_app, clock, dovecot, sink, mailbox):
    app = make_app()
    old = waiting_ticket(app, dovecot, mailbox)
    clock.advance(days=5)
    run_once(app)
    closing_notice = mails(sink)[-1]
    clock.advance(days=31)
    deliver(
        app,
        dovecot,
        mailbox,
        customer_mail(
            subject="Re: " + closing_notice["Subject"],
            body="Same problem again",
            in_reply_to=closing_notice["Message-ID"],
        ),
    )
    first, second = tickets(app)
    assert first.status == "closed" and second.status == "new" and second.linked_ticket_id == old.id
    assert reasons(app)[-1] == "new_linked"
    assert f"[#{second.number}]" in mails(sink)[-1]["Subject"]  # the new ticket's receipt


def test_receipt_reply_to_is_signed_and_threads_from_another_address(make_app, dovecot, sink, mailbox):
    app = make_app()
    deliver(app, dovecot, mailbox, customer_mail())
    [receipt] = mails(sink)
    reply_to = receipt["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("support+") and reply_to.endswith("@shop.example")
    raw = customer_mail(sender="anna.rossi@work.example", subject="Other matter", body="From my work address")
    raw = raw.replace(f"To: {SUPPORT_USER}".encode(), f"To: {reply_to}".encode())
    deliver(app, dovecot, mailbox, raw)
    assert len(tickets(app)) == 1 and reasons(app) == ["new", "reply_token"]


def test_forged_token_opens_a_new_ticket(make_app, dovecot, sink, mailbox):
    app = make_app()
    deliver(app, dovecot, mailbox, customer_mail())
    raw = customer_mail(sender="mallory@evil.example", subject="hi").replace(
        f"To: {SUPPORT_USER}".encode(), b"To: support+c.b.a.aaaaaaaaaaaaaaaa@shop.example"
    )
    deliver(app, dovecot, mailbox, raw)
    assert len(tickets(app)) == 2 and reasons(app)[-1] == "new"


def test_quoted_reference_line_threads_when_ids_were_rewritten(make_app, dovecot, sink, mailbox):
    app = make_app()
    deliver(app, dovecot, mailbox, customer_mail())
    [ticket] = tickets(app)
    deliver(app, dovecot, mailbox, customer_mail(subject="my parcel", body=f"Hi\n> Ticket: [#{ticket.number}]\n"))
    assert len(tickets(app)) == 1 and reasons(app)[-1] == "body_reference"


def test_same_subject_from_same_customer_joins_by_contact(make_app, dovecot, sink, mailbox):
    app = make_app()
    deliver(app, dovecot, mailbox, customer_mail(subject="Order 1234 not arrived"))
    deliver(app, dovecot, mailbox, customer_mail(subject="AW: WG: Order 1234 not arrived", body="forgot this"))
    deliver(app, dovecot, mailbox, customer_mail(sender="bob@example.org", subject="Re: Order 1234 not arrived"))
    assert len(tickets(app)) == 2 and reasons(app) == ["new", "contact", "new"]


def test_friday_evening_ticket_escalates_on_monday_once(make_app, clock, dovecot, sink, mailbox):
    clock.current = datetime(2026, 1, 9, 17, 30, tzinfo=UTC)  # Friday 18:30 in Rome
    app = make_app(extra='[sla]\nfirst_response_hours = 8\nwarn_before_hours = 2\nholidays_country = "IT"\n')
    with db.transaction(app.engine) as session:
        for contact in session.exec(select(Contact)):
            contact.escalation_address = "lead@shop.example"
    deliver(app, dovecot, mailbox, customer_mail())
    assert len(sink.messages) == 1  # the receipt, which is no response
    clock.current = datetime(2026, 1, 11, 20, 0, tzinfo=UTC)  # Sunday evening
    run_once(app)
    clock.current = datetime(2026, 1, 12, 13, 59, tzinfo=UTC)  # Monday 14:59 Rome: 2h01 left
    run_once(app)
    assert len(sink.messages) == 1
    clock.current = datetime(2026, 1, 12, 14, 0, tzinfo=UTC)  # Monday 15:00 Rome: 2h left
    run_once(app)
    clock.advance(hours=5)  # breached now, but reported once only
    run_once(app)
    assert len(sink.messages) == 2
    warning = mails(sink)[-1]
    assert sink.messages[-1].rcpt_tos == ("lead@shop.example",)
    assert warning["Subject"].startswith("SLA warning") and warning["Auto-Submitted"] == "auto-generated"
    assert "2026-01-12T16:00" in text_of(warning)  # due Monday 17:00 Rome


def test_answered_ticket_is_not_escalated(make_app, clock, dovecot, sink, mailbox):
    app = make_app(extra="[sla]\nfirst_response_hours = 8\n")
    with db.transaction(app.engine) as session:
        for contact in session.exec(select(Contact)):
            contact.escalation_address = "lead@shop.example"
    waiting_ticket(app, dovecot, mailbox)
    clock.advance(days=3)
    run_once(app)
    assert all(m.rcpt_tos != ("lead@shop.example",) for m in sink.messages)


def test_sla_check_loads_only_the_tickets_it_reports(make_app, clock, dovecot, sink, mailbox):
    """Issue 18: every unanswered ticket is a candidate every minute; they are decided as rows, and only the one
    past its warning time is loaded as a Ticket (a backlog of unanswered tickets no longer costs an object each)."""
    clock.current = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)  # Monday 9:00 in Rome
    app = make_app(extra="[sla]\nfirst_response_hours = 4\nwarn_before_hours = 1\n")
    deliver(app, dovecot, mailbox, customer_mail(sender="early@example.org", subject="First"))
    clock.advance(hours=2)
    for n in range(3):
        deliver(app, dovecot, mailbox, customer_mail(sender=f"later{n}@example.org", subject=f"Later {n}"))
    early, *later = tickets(app)
    clock.advance(hours=1, minutes=1)  # the first has 0h59 left: a warning; the later ones have 2h59
    loaded: list[int] = []

    def on_load(ticket, _context) -> None:
        loaded.append(ticket.id)

    event.listen(Ticket, "load", on_load)
    try:
        assert timers.check_sla(app, clock.now()) == 1
        assert timers.check_sla(app, clock.now()) == 0  # reported once
    finally:
        event.remove(Ticket, "load", on_load)
    assert loaded == [early.id]
    reported = {t.id: t.sla_reported_at for t in tickets(app)}
    assert reported[early.id] is not None and all(reported[t.id] is None for t in later)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_sla_check_reads_only_tickets_old_enough_to_be_near_their_due_time(
    make_app, clock, dovecot, sink, mailbox, request, database
):
    """Issue 18: the SLA timer runs every minute; the young tickets of a backlog (created within the warning lead,
    first_response_hours - warn_before_hours working hours) are left out by the query itself, not read and decided."""
    clock.current = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)  # Monday 9:00 in Rome
    url = request.getfixturevalue("postgres").create_database("sla_cutoff") if database == "postgres" else None
    app = make_app(db_url=url, extra="[sla]\nfirst_response_hours = 4\nwarn_before_hours = 1\n")
    deliver(app, dovecot, mailbox, customer_mail(sender="early@example.org", subject="First"))
    clock.advance(hours=2)
    for n in range(6):
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender=f"later{n}@example.org", subject=f"Later {n}"))
    run_once(app)
    early, *later = tickets(app)
    assert len(later) == 6
    clock.advance(hours=1, minutes=1)  # the first has waited 3h01 of its 4h: a warning; the later ones 1h01
    read: list[int] = []

    def count_rows(connection, _cursor, statement, parameters, _context, _many) -> None:
        if statement.lstrip().startswith("SELECT ticket.id, ticket.created_at, ticket.contact_id"):
            # The SLA timer's candidate query, run again on the driver's cursor to count the rows it read.
            again = connection.connection.cursor()
            again.execute(statement, parameters)
            read.append(len(again.fetchall()))
            again.close()

    event.listen(app.engine, "after_cursor_execute", count_rows)
    try:
        assert timers.check_sla(app, clock.now()) == 1
        clock.advance(hours=1)  # the later ones have waited 2h01: still not candidates; the first is reported
        assert timers.check_sla(app, clock.now()) == 0
        clock.advance(hours=1)  # 3h01: all six are candidates and are warned
        assert timers.check_sla(app, clock.now()) == 6
    finally:
        event.remove(app.engine, "after_cursor_execute", count_rows)
    assert read == [1, 0, 6]
    assert all(t.sla_reported_at is not None for t in tickets(app))


def test_cli_filters_search_status_and_customer_history(config_file, dovecot, sink, mailbox, make_app):
    extra = '[[routing]]\ncategory = "Orders > Shipping"\nsubject_keywords = ["not arrived"]\n'
    app = make_app(extra=extra)
    path = config_file(extra=extra)
    deliver(app, dovecot, mailbox, customer_mail(subject="Order 98765 not arrived", body="The parcel is lost"))
    deliver(
        app,
        dovecot,
        mailbox,
        customer_mail(sender="bob@example.org", name="Bob Brown", subject="Invoice", body="Please send the invoice"),
    )
    anna, bob = tickets(app)
    assert anna.category == "Orders > Shipping" and bob.category is None

    def cli_json(*args):
        result = run_cli(*args, "--json", config=path)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert [t["number"] for t in cli_json("tickets", "list", "--category", "Orders")] == [anna.number]
    assert [t["number"] for t in cli_json("tickets", "list", "--customer", "bob@example.org")] == [bob.number]
    assert cli_json("tickets", "list", "--since", "2027-01-01") == []
    assert [t["matched_by"] for t in cli_json("tickets", "search", "98765")] == ["order number"]
    assert [t["number"] for t in cli_json("tickets", "search", "parcel")] == [anna.number]
    assert [t["number"] for t in cli_json("tickets", "search", "Bob Brown")] == [bob.number]
    assert [t["number"] for t in cli_json("tickets", "search", f"[#{bob.number}]")] == [bob.number]
    status = run_cli("tickets", "status", anna.number, "pending1", "--actor", AGENT, config=path)
    assert status.returncode == 0 and status.stdout.strip() == f"{anna.number} pending1"
    refused = run_cli("tickets", "status", anna.number, "new", config=path)
    assert refused.returncode == 1 and "cannot become new" in refused.stderr
    history = cli_json("customers", "show", "anna@example.org")
    assert (history["ticket_count"], history["message_count"]) == (1, 1)
    assert history["first_contact"] and history["tickets"][0]["status"] == "pending1"
