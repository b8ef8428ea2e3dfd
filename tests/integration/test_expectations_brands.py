"""Issue 19 (points 6 and 8) end to end over Dovecot and the SMTP sink(s): the receipt's expected answer time, the
reminder before auto-close, auto_close_statuses, and brands (From name, template directory, SMTP relay per Contact).
"""

from __future__ import annotations

import email
from email import policy

import pytest
from sqlmodel import Session, select

from mailbridge.decisions.kinds import TicketStatus
from mailbridge.runtime.desk import change_status
from mailbridge.store.models import Contact, OutboxMail, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, mailbox_toml, run_cli, run_once
from tests.servers.smtp_sink import start_smtp_sink

AGENT = "agent:maria@shop.example"
# The FixedClock starts on Monday 5 January 2026, 09:00 UTC: 10:00 in Rome.
SLA = '\n[sla]\nfirst_response_hours = 8\ntimezone = "Europe/Rome"\n'


def mails(sink) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages]


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def tickets(app) -> list[Ticket]:
    with Session(app.engine) as session:
        return list(session.exec(select(Ticket).order_by(Ticket.id)))


def kinds_sent(app) -> list[str]:
    with Session(app.engine) as session:
        return [row.kind for row in session.exec(select(OutboxMail).order_by(OutboxMail.id))]


def deliver(app, dovecot, folder: str, raw: bytes) -> None:
    dovecot.append(SUPPORT_USER, folder, raw)
    run_once(app)


def test_receipt_says_by_when_to_expect_an_answer_in_business_hours(make_app, dovecot, sink, mailbox):
    app = make_app(extra=SLA)
    deliver(app, dovecot, mailbox, customer_mail())
    [receipt] = mails(sink)
    # 8 working hours from Monday 10:00 (09:00-17:00): 7 on Monday, 1 on Tuesday.
    assert "We will answer by Tuesday 10:00 (CET)." in text_of(receipt)
    assert "by Tuesday 10:00 (CET)" in receipt.get_body(("html",)).get_content()


def test_receipt_expectation_is_in_the_customers_language_and_the_contacts_hours(
    make_app, config_file, dovecot, sink, mailbox
):
    app = make_app(extra=SLA)
    result = run_cli(
        "contacts", "edit", "Customer service", "--locale", "de", "--sla-hours", "2", config=app.settings.path
    )
    assert result.returncode == 0, result.stderr
    deliver(app, dovecot, mailbox, customer_mail())
    [receipt] = mails(sink)
    assert "Wir antworten bis Montag 12:00 (CET)." in text_of(receipt)


def test_receipt_promises_no_time_without_configured_hours(make_app, dovecot, sink, mailbox):
    app = make_app()
    deliver(app, dovecot, mailbox, customer_mail())
    [receipt] = mails(sink)
    assert "as soon as we can" in text_of(receipt) and "answer by" not in text_of(receipt)


def waiting_ticket(app, dovecot, mailbox) -> Ticket:
    deliver(app, dovecot, mailbox, customer_mail())
    [ticket] = tickets(app)
    change_status(app, ticket.number, TicketStatus.WAITING, AGENT)
    run_once(app)
    return ticket


def test_one_reminder_before_auto_close_then_the_closing_notice(make_app, clock, dovecot, sink, mailbox):
    app = make_app(extra_support="auto_close_reminder_hours = 24")
    ticket = waiting_ticket(app, dovecot, mailbox)
    assert len(sink.messages) == 2  # receipt, handling notice
    clock.advance(days=3, hours=23, minutes=59)
    run_once(app)
    assert len(sink.messages) == 2
    clock.advance(minutes=1)
    run_once(app)
    clock.advance(hours=12)
    run_once(app)
    assert len(sink.messages) == 3
    reminder = mails(sink)[2]
    assert "close it in 24 hours" in text_of(reminder) and f"[#{ticket.number}]" in reminder["Subject"]
    assert reminder["Auto-Submitted"] == "auto-generated"
    clock.advance(hours=12)
    run_once(app)
    run_once(app)
    assert tickets(app)[0].status == "closed"
    assert kinds_sent(app).count("auto_close_reminder") == 1
    assert [k for k in kinds_sent(app) if k in ("auto_close_reminder", "auto_closed")] == [
        "auto_close_reminder",
        "auto_closed",
    ]
    assert any("5 days" in text_of(m) for m in mails(sink)[3:])


def test_no_reminder_after_the_customer_answered_and_one_per_waiting_period(make_app, clock, dovecot, sink, mailbox):
    app = make_app(extra_support="auto_close_reminder_hours = 24")
    ticket = waiting_ticket(app, dovecot, mailbox)
    clock.advance(days=3)
    deliver(app, dovecot, mailbox, customer_mail(subject=f"Re: [#{ticket.number}] Order 1234", body="Any news?"))
    assert tickets(app)[0].status == "open"
    clock.advance(days=1, hours=12)
    run_once(app)
    assert "auto_close_reminder" not in kinds_sent(app)
    change_status(app, ticket.number, TicketStatus.WAITING, AGENT)  # a new waiting period
    clock.advance(days=4, hours=1)
    run_once(app)
    run_once(app)
    assert kinds_sent(app).count("auto_close_reminder") == 1 and tickets(app)[0].status == "waiting"


def test_contact_closes_open_tickets_left_for_its_days(make_app, clock, dovecot, sink, mailbox):
    app = make_app()
    result = run_cli(
        "contacts",
        "edit",
        "Customer service",
        "--auto-close-statuses",
        "waiting,open",
        "--auto-close-days",
        "30",
        config=app.settings.path,
    )
    assert result.returncode == 0, result.stderr
    deliver(app, dovecot, mailbox, customer_mail())
    [ticket] = tickets(app)
    change_status(app, ticket.number, TicketStatus.OPEN, AGENT)
    run_once(app)
    assert len(sink.messages) == 2
    clock.advance(days=29, hours=23)
    run_once(app)
    assert tickets(app)[0].status == "open"
    clock.advance(hours=1)
    run_once(app)
    run_once(app)
    assert tickets(app)[0].status == "closed"
    [notice] = [m for m in mails(sink) if "after 30 days without a change" in text_of(m)]
    assert f"[#{ticket.number}]" in notice["Subject"]


def test_auto_close_statuses_with_a_typo_is_refused(make_app):
    app = make_app()
    result = run_cli(
        "contacts", "edit", "Customer service", "--auto-close-statuses", "wating", config=app.settings.path
    )
    assert result.returncode != 0 and "--auto-close-statuses" in result.stderr and "'wating'" in result.stderr
    with Session(app.engine) as session:
        assert session.exec(select(Contact.auto_close_statuses)).all() == [None]


def test_two_brands_answer_with_their_own_from_name_and_templates(make_app, dovecot, sink, mailbox, tmp_path):
    shop2_folder = mailbox + "Shop2"
    dovecot.create_folder(SUPPORT_USER, shop2_folder)
    app = make_app(extra=mailbox_toml(dovecot, "shop2", shop2_folder, "Shop Two"))
    brand = tmp_path / "shop2-templates"
    (brand / "receipt").mkdir(parents=True)
    (brand / "receipt" / "en.txt.j2").write_text("Thank you for writing to Shop Two! Ticket [#{{ number }}].\n")
    result = run_cli(
        "contacts",
        "edit",
        "Shop Two",
        "--from-name",
        "Shop Two",
        "--template-dir",
        str(brand),
        config=app.settings.path,
    )
    assert result.returncode == 0, result.stderr
    deliver(app, dovecot, mailbox, customer_mail(sender="anna@example.org"))
    deliver(app, dovecot, shop2_folder, customer_mail(sender="bruno@example.org", name="Bruno"))
    by_customer = {m["To"].addresses[0].addr_spec: m for m in mails(sink)}
    first, second = by_customer["anna@example.org"], by_customer["bruno@example.org"]
    assert first["From"].addresses[0].display_name == "Shop support"
    assert "we have received your message" in text_of(first)
    assert second["From"].addresses[0].display_name == "Shop Two"
    assert text_of(second).startswith("Thank you for writing to Shop Two!")


@pytest.fixture
def second_sink():
    server = start_smtp_sink()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_brand_sends_through_its_own_smtp_relay(request, database, make_app, dovecot, sink, second_sink, mailbox):
    shop2_folder = mailbox + "Shop2"
    dovecot.create_folder(SUPPORT_USER, shop2_folder)
    relay = f'\n[smtp.shop2]\nhost = "127.0.0.1"\nport = {second_sink.port}\nsecurity = "plain"\ntimeout_seconds = 5\n'
    db_url = None
    if database == "postgres":
        db_url = request.getfixturevalue("postgres").create_database(f"brand{abs(hash(request.node.nodeid)) % 10**6}")
    app = make_app(db_url=db_url, extra=mailbox_toml(dovecot, "shop2", shop2_folder, "Shop Two") + relay)
    refused = run_cli("contacts", "edit", "Shop Two", "--smtp", "shop3", config=app.settings.path)
    assert refused.returncode != 0 and "--smtp" in refused.stderr and "shop2" in refused.stderr
    result = run_cli("contacts", "edit", "Shop Two", "--smtp", "shop2", config=app.settings.path)
    assert result.returncode == 0, result.stderr
    deliver(app, dovecot, mailbox, customer_mail(sender="anna@example.org"))
    deliver(app, dovecot, shop2_folder, customer_mail(sender="bruno@example.org", name="Bruno"))
    assert [m.rcpt_tos for m in sink.messages] == [("anna@example.org",)]
    assert [m.rcpt_tos for m in second_sink.messages] == [("bruno@example.org",)]
    with Session(app.engine) as session:
        assert sorted(str(p) for p in session.exec(select(OutboxMail.smtp_profile))) == ["None", "shop2"]


def test_config_check_refuses_a_contact_naming_an_smtp_relay_that_is_gone(make_app, dovecot, sink, mailbox):
    shop2_folder = mailbox + "Shop2"
    dovecot.create_folder(SUPPORT_USER, shop2_folder)
    app = make_app(
        extra=mailbox_toml(dovecot, "shop2", shop2_folder, "Shop Two") + '\n[smtp.shop2]\nhost = "127.0.0.1"\n'
    )
    assert run_cli("contacts", "edit", "Shop Two", "--smtp", "shop2", config=app.settings.path).returncode == 0
    path = app.settings.path
    path.write_text(path.read_text().replace("[smtp.shop2]", "[smtp.shop9]"))
    result = run_cli("config", "check", config=path)
    assert result.returncode != 0
    assert "contact 'Shop Two': smtp:" in result.stderr and "'shop2'" in result.stderr
