"""Issue 19 (expectations): a Contact's own business hours, holidays and time zone (`[sla.contacts."NAME"]`), end to
end over Dovecot and the SMTP sink: its receipts promise in its calendar, and the SLA timer warns in the same one."""

from __future__ import annotations

import email
from email import policy

from sqlmodel import Session, select

from mailbridge.store import db
from mailbridge.store.models import Contact, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, mailbox_toml, run_cli, run_once

# The FixedClock starts on Monday 5 January 2026, 09:00 UTC: 10:00 in Rome, 11:00 in Athens.
SLA = """
[sla]
first_response_hours = 8
timezone = "Europe/Rome"

[sla.contacts."Athens shop"]
working_hours = "08:00-14:00"
timezone = "Europe/Athens"
holidays = ["2026-01-06"]
"""


def text_of(raw: bytes) -> str:
    return email.message_from_bytes(raw, policy=policy.default).get_body(("plain",)).get_content()


def two_contacts(make_app, dovecot, mailbox):
    athens = mailbox + "Athens"
    dovecot.create_folder(SUPPORT_USER, athens)
    app = make_app(extra=mailbox_toml(dovecot, "athens", athens, "Athens shop") + SLA)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    dovecot.append(SUPPORT_USER, athens, customer_mail(sender="nikos@example.gr", name="Nikos Pappas"))
    run_once(app)
    return app


def test_two_contacts_promise_answers_in_their_own_hours_and_time_zones(make_app, dovecot, sink, mailbox):
    two_contacts(make_app, dovecot, mailbox)
    receipts = {m.rcpt_tos[0]: text_of(m.data) for m in sink.messages}
    # Rome, 09:00-17:00: 7 hours on Monday, 1 on Tuesday.
    assert "We will answer by Tuesday 10:00 (CET)." in receipts["anna@example.org"]
    # Athens, 08:00-14:00 and closed on Tuesday the 6th: 3 hours on Monday, 5 on Wednesday.
    assert "We will answer by Wednesday 13:00 (EET)." in receipts["nikos@example.gr"]


def test_sla_timer_warns_each_ticket_in_its_contacts_calendar(make_app, clock, dovecot, sink, mailbox):
    app = two_contacts(make_app, dovecot, mailbox)
    with db.transaction(app.engine) as session:
        for contact in session.exec(select(Contact)):
            contact.escalation_address = "lead@shop.example"
    clock.advance(hours=5)  # Monday 15:00 in Rome: 3 working hours left there; 13 in Athens
    run_once(app)
    with db.transaction(app.engine) as session:
        names = {c.id: c.name for c in session.exec(select(Contact))}
        reported = {names[t.contact_id]: t.sla_reported_at for t in session.exec(select(Ticket))}
    assert reported["Customer service"] is not None and reported["Athens shop"] is None
    clock.advance(days=2, hours=-6)  # Wednesday 10:00 in Athens: 3 working hours left
    run_once(app)
    with db.transaction(app.engine) as session:
        assert all(t.sla_reported_at is not None for t in session.exec(select(Ticket)))
    warnings = [text_of(m.data) for m in sink.messages if m.rcpt_tos == ("lead@shop.example",)]
    assert len(warnings) == 2 and "2026-01-07T11:00" in warnings[1]  # due Wednesday 13:00 in Athens


def test_config_check_refuses_a_calendar_for_no_contact(make_app, dovecot, sink, mailbox):
    app = make_app(extra=SLA.replace("Athens shop", "Athens shopp"))
    result = run_cli("config", "check", config=app.settings.path)
    assert result.returncode != 0
    assert '[sla.contacts."Athens shopp"]: expected the name of a Contact' in result.stderr


def test_status_counts_breached_tickets_in_their_contacts_calendar(make_app, clock, dovecot, sink, mailbox):
    from mailbridge.decisions.business_hours import calendar_of
    from mailbridge.reports.status import gather_status
    from mailbridge.store.reader import reader_of

    app = two_contacts(make_app, dovecot, mailbox)
    clock.advance(days=1, hours=3)  # Tuesday 13:00 in Rome: due at 10:00 there; Athens' is due on Wednesday
    now, calendar = clock.now(), calendar_of(app.settings.sla, 2026)
    with Session(app.engine) as session:
        report = gather_status(reader=reader_of(session), settings=app.settings, now=now, calendar=calendar)
    assert report.sla_breached == 1
