"""Issue 14, "our addresses, one definition", on Dovecot + the SMTP sink: a mailbox whose login is not an address
(Dovecot `support`) and a second Contact with its own address in the same IMAP account both get their agents'
answers relayed, and customers' replies threaded by the reply token; `config check` warns of a Contact address
that no mailbox receives.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from sqlmodel import Session, select

from mailbridge.base.clock import FixedClock
from mailbridge.store import agents, contacts, db
from mailbridge.store.models import Contact, Customer, Message, Ticket
from tests.conftest import IMAP_PASSWORD_ENV, SUPPORT_USER, customer_mail, run_cli, run_once
from tests.integration.test_agents import agent_mail, mails, notification_for, reply_to_of, text_of, to

LOGIN = "support"  # a Dovecot login without "@": the mailbox's address is known only from the configuration
MARIA = "maria@shop.example"
LUCA = "luca@shop.example"
CUSTOMER = "anna@example.org"
WEBMASTER = "webmaster@shop.example"
ANSWER = "Your parcel left our warehouse today; tracking number TR-5581."


@pytest.fixture
def bare(dovecot, mailbox) -> str:
    """A fresh folder of the login `support` (the same name as this test's folder of support@shop.example)."""
    dovecot.add_user(LOGIN)
    dovecot.create_folder(LOGIN, mailbox)
    return mailbox


def add_agent(app, address: str, name: str, contact: str) -> None:
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session, email=address, name=name, locale=None, contacts=[contact], now=app.clock.now()
        )


def contact_address(app, name: str) -> str:
    with Session(app.engine) as session:
        return session.exec(select(Contact.email).where(Contact.name == name)).one()


def tickets_of(app) -> list[Ticket]:
    with Session(app.engine) as session:
        return list(session.exec(select(Ticket).order_by(Ticket.id)))


def kinds(app) -> list[str]:
    with Session(app.engine) as session:
        return [m.kind for m in session.exec(select(Message).where(Message.direction == "in").order_by(Message.id))]


def relayed_to_customer(sink) -> list[EmailMessage]:
    """The agents' answers the customer got (written by a person: no Auto-Submitted)."""
    return [m for m in to(sink, CUSTOMER) if m["Auto-Submitted"] is None]


def answer_notification(app, dovecot, folder: str, sink, agent: str) -> EmailMessage:
    """The agent answers their newest notification at its Reply-To; the mail lands in `folder` of the login."""
    notification = notification_for(sink, agent)
    raw = agent_mail(sender=agent, to_address=reply_to_of(notification), body=ANSWER, notification=notification)
    dovecot.append(LOGIN, folder, raw)
    run_once(app)
    return notification


def customer_reply(to_address: str) -> bytes:
    """A customer's answer to the relayed mail, carrying no thread headers, ticket number nor known subject:
    only the reply token in its To can thread it."""
    message = EmailMessage()
    message["From"] = f"Anna Rossi <{CUSTOMER}>"
    message["To"] = to_address
    message["Subject"] = "one more question"
    message["Date"] = format_datetime(FixedClock().now())
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content("Can you also send the invoice?")
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def warnings_of(result) -> list[str]:
    """The warnings about Contacts (the one about `[support] authserv_id` is test_forged_agents' business)."""
    lines = result.stderr.splitlines()
    return [line for line in lines if line.startswith("mailbridge: warning:") and "authserv_id" not in line]


def second_contact(dovecot, folder: str) -> str:
    """A [[mailboxes]] table for the Contact "Webmaster": another folder of the login, with its own address."""
    return f"""
[[mailboxes]]
name = "webmaster"
host = "127.0.0.1"
port = {dovecot.imaps_port}
security = "ssl"
ca_file = "{dovecot.ca_file}"
username = "{LOGIN}"
password_env = "{IMAP_PASSWORD_ENV}"
folder = "{folder}"
contact = "Webmaster"
create_contact = true
addresses = ["{WEBMASTER}"]
initial_sync = "import"
timeout_seconds = 5
"""


def test_login_without_at_gives_the_contact_from_address_and_agent_answers_are_relayed(make_app, dovecot, sink, bare):
    app = make_app(username=LOGIN)
    assert contact_address(app, "Customer service") == SUPPORT_USER  # [support] from_address, not made up
    add_agent(app, MARIA, "Maria Rossi", "Customer service")
    dovecot.append(LOGIN, bare, customer_mail())
    run_once(app)
    notification = notification_for(sink, MARIA)
    assert reply_to_of(notification).startswith("support+a.") and reply_to_of(notification).endswith("@shop.example")

    answer_notification(app, dovecot, bare, sink, MARIA)

    [relayed] = relayed_to_customer(sink)
    assert ANSWER in text_of(relayed) and relayed["From"].addresses[0].addr_spec == SUPPORT_USER
    [ticket] = tickets_of(app)  # the answer opened no customer ticket of its own
    assert ticket.status == "waiting" and ticket.assigned_agent == MARIA
    assert kinds(app) == ["customer", "agent_reply_in"]


def test_second_contact_with_its_own_address_relays_answers_and_threads_the_customer_reply(
    make_app, dovecot, sink, bare
):
    web = bare + "Web"
    dovecot.create_folder(LOGIN, web)
    app = make_app(username=LOGIN, extra_mailbox=f'addresses = ["{SUPPORT_USER}"]', extra=second_contact(dovecot, web))
    assert contact_address(app, "Customer service") == SUPPORT_USER
    assert contact_address(app, "Webmaster") == WEBMASTER
    add_agent(app, MARIA, "Maria Rossi", "Customer service")
    add_agent(app, LUCA, "Luca Bianchi", "Webmaster")
    dovecot.append(LOGIN, web, customer_mail(subject="Broken link on the shop", headers={"Delivered-To": WEBMASTER}))
    run_once(app)
    assert not to(sink, MARIA)
    notification = notification_for(sink, LUCA)
    assert reply_to_of(notification).startswith("webmaster+a.")

    answer_notification(app, dovecot, web, sink, LUCA)

    [relayed] = relayed_to_customer(sink)
    assert ANSWER in text_of(relayed) and relayed["From"].addresses[0].addr_spec == WEBMASTER
    thread_address = relayed["Reply-To"].addresses[0].addr_spec
    assert thread_address.startswith("webmaster+c.")
    before = len(mails(sink))
    dovecot.append(LOGIN, web, customer_reply(thread_address))
    run_once(app)

    [ticket] = tickets_of(app)
    assert ticket.status == "open"  # the customer's reply reopened the waiting ticket
    with Session(app.engine) as session:
        last = session.exec(select(Message).where(Message.direction == "in").order_by(Message.id.desc())).first()
    assert (last.ticket_id, last.kind, last.match_reason) == (ticket.id, "customer", "reply_token")
    assert LUCA in [m["To"].addresses[0].addr_spec for m in mails(sink)[before:]]  # the agent hears of it
    assert warnings_of(run_cli("config", "check", config=app.settings.path)) == []


def test_contact_given_a_new_address_by_the_cli_is_ours_from_the_next_poll(make_app, dovecot, sink, bare):
    app = make_app(username=LOGIN)
    add_agent(app, MARIA, "Maria Rossi", "Customer service")
    # The running app has read its Contacts already; the CLI changes one in the database only.
    result = run_cli("contacts", "edit", "Customer service", "--address", "desk@shop.example", config=app.settings.path)
    assert result.returncode == 0, result.stderr
    dovecot.append(LOGIN, bare, customer_mail())
    run_once(app)
    assert reply_to_of(notification_for(sink, MARIA)).startswith("desk+a.")

    answer_notification(app, dovecot, bare, sink, MARIA)

    assert [ANSWER in text_of(m) for m in relayed_to_customer(sink)] == [True]
    assert len(tickets_of(app)) == 1 and kinds(app) == ["customer", "agent_reply_in"]


def test_config_check_warns_of_each_contact_address_no_mailbox_receives(make_app, dovecot, sink, bare):
    app = make_app(username=LOGIN)
    with db.transaction(app.engine) as session:
        contacts.add_contact(
            session=session, name="Webmaster", columns={"email": WEBMASTER}, now=app.clock.now()
        )  # given its own address, delivered nowhere we poll
    result = run_cli("config", "check", config=app.settings.path)
    assert result.returncode == 0
    warnings = warnings_of(result)
    assert len(warnings) == 2
    assert warnings[0].startswith(f"mailbridge: warning: contact 'Customer service' ({SUPPORT_USER}): no [[mailboxes]]")
    assert warnings[1].startswith(f"mailbridge: warning: contact 'Webmaster' ({WEBMASTER}): no [[mailboxes]]")
    status = run_cli("status", config=app.settings.path)
    assert status.returncode == 0
    shown = [line for line in status.stdout.splitlines() if line.startswith("warning: contact")]
    assert [line.split(":")[1] for line in shown] == [
        f" contact 'Customer service' ({SUPPORT_USER})",
        f" contact 'Webmaster' ({WEBMASTER})",
    ]

    listed = make_app(username=LOGIN, extra_mailbox=f'addresses = ["{SUPPORT_USER}", "{WEBMASTER}"]')
    assert warnings_of(run_cli("config", "check", config=listed.settings.path)) == []


def names_of_tickets(app) -> list[tuple[str, str]]:
    """(Contact name, customer address) of every ticket, in order."""
    with Session(app.engine) as session:
        names = {c.id: c.name for c in session.exec(select(Contact))}
        customers = {c.id: c.email for c in session.exec(select(Customer))}
        rows = session.exec(select(Ticket).order_by(Ticket.id)).all()
        return [(names[t.contact_id], customers[t.customer_id]) for t in rows]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_one_folder_receiving_two_contacts_addresses_files_each_mail_in_the_contact_it_was_written_to(
    make_app, dovecot, sink, bare, request, database
):
    """One IMAP account (`support`, no `@`) gets support@ and webmaster@; the Contact Webmaster, added with the
    CLI, has webmaster@. Mail To webmaster@ is Webmaster's ticket: its agents are told, its receipt and answers
    are From webmaster@, the customer's reply threads there; mail To support@ stays Customer service's. On SQLite,
    then on PostgreSQL."""
    on_postgres = {}
    if database == "postgres":
        name = f"own{abs(hash(request.node.nodeid)) % 10**8}"
        on_postgres = {"db_url": request.getfixturevalue("postgres").create_database(name)}
    app = make_app(username=LOGIN, extra_mailbox=f'addresses = ["{SUPPORT_USER}", "{WEBMASTER}"]', **on_postgres)
    added = run_cli("contacts", "add", "Webmaster", "--address", WEBMASTER, config=app.settings.path)
    assert added.returncode == 0, added.stderr
    add_agent(app, MARIA, "Maria Rossi", "Customer service")
    add_agent(app, LUCA, "Luca Bianchi", "Webmaster")
    to_web = customer_mail(subject="Broken link on the shop").replace(
        f"To: {SUPPORT_USER}".encode(), f"To: Webmaster <{WEBMASTER}>".encode(), 1
    )
    dovecot.append(LOGIN, bare, to_web)
    dovecot.append(LOGIN, bare, customer_mail(sender="bob@example.org", name="Bob", subject="Where is my parcel?"))
    run_once(app)

    assert names_of_tickets(app) == [("Webmaster", CUSTOMER), ("Customer service", "bob@example.org")]
    [receipt] = [m for m in to(sink, CUSTOMER) if m["Auto-Submitted"] is not None]
    assert receipt["From"].addresses[0].addr_spec == WEBMASTER
    assert "Broken link" in str(notification_for(sink, LUCA)["Subject"])
    assert "Where is my parcel" in str(notification_for(sink, MARIA)["Subject"])
    assert len([m for m in to(sink, MARIA) if "Broken link" in str(m["Subject"])]) == 0

    answer_notification(app, dovecot, bare, sink, LUCA)
    [relayed] = relayed_to_customer(sink)
    assert relayed["From"].addresses[0].addr_spec == WEBMASTER
    dovecot.append(LOGIN, bare, customer_reply(relayed["Reply-To"].addresses[0].addr_spec))
    run_once(app)

    assert names_of_tickets(app) == [("Webmaster", CUSTOMER), ("Customer service", "bob@example.org")]
    with Session(app.engine) as session:
        last = session.exec(select(Message).where(Message.direction == "in").order_by(Message.id.desc())).first()
        assert last.match_reason == "reply_token" and last.ticket_id == tickets_of(app)[0].id


def test_ingest_with_contact_files_every_mail_there_whatever_address_it_was_written_to(
    make_app, dovecot, sink, bare, tmp_path
):
    app = make_app(username=LOGIN, extra_mailbox=f'addresses = ["{SUPPORT_USER}", "{WEBMASTER}"]')
    assert run_cli("contacts", "add", "Webmaster", "--address", WEBMASTER, config=app.settings.path).returncode == 0
    for n, sender in enumerate([CUSTOMER, "bob@example.org"]):
        raw = customer_mail(sender=sender).replace(f"To: {SUPPORT_USER}".encode(), f"To: {WEBMASTER}".encode(), 1)
        (tmp_path / f"{n}.eml").write_bytes(raw)
    piped = run_cli("ingest", str(tmp_path / "0.eml"), config=app.settings.path)
    assert piped.returncode == 0, piped.stderr
    chosen = run_cli("ingest", "--contact", "Customer service", str(tmp_path / "1.eml"), config=app.settings.path)
    assert chosen.returncode == 0, chosen.stderr
    assert names_of_tickets(app) == [("Webmaster", CUSTOMER), ("Customer service", "bob@example.org")]


def test_a_sender_flooding_the_second_contacts_address_is_told_to_that_contacts_agents(make_app, dovecot, sink, bare):
    # Webmaster has no folder of its own: the flood notice goes to its agent, who would have got the notifications,
    # not to the agents of the Contact whose mailbox read the mail.
    app = make_app(
        username=LOGIN,
        extra_mailbox=f'addresses = ["{SUPPORT_USER}", "{WEBMASTER}"]',
        extra="[limits]\nmax_auto_replies_per_address_per_day = 100\n",
    )
    added = run_cli("contacts", "add", "Webmaster", "--address", WEBMASTER, config=app.settings.path)
    assert added.returncode == 0, added.stderr
    add_agent(app, MARIA, "Maria Rossi", "Customer service")
    add_agent(app, LUCA, "Luca Bianchi", "Webmaster")
    for n in range(17):
        raw = customer_mail(sender="bot@flood.example", subject=f"Spam {n}")
        dovecot.append(LOGIN, bare, raw.replace(f"To: {SUPPORT_USER}".encode(), f"To: {WEBMASTER}".encode(), 1))
    run_once(app)

    assert {name for name, _ in names_of_tickets(app)} == {"Webmaster"}
    told = [m for m in sink.messages if "bot@flood.example sent" in text_of(m.message)]
    assert [m.rcpt_tos for m in told] == [(LUCA,)]
    assert to(sink, MARIA) == []
