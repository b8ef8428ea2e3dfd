"""Issue 14, done-when: the whole journey as a stranger would run it, through the CLI, IMAP and SMTP only.

A Dovecot login without "@" (`support`), two Contacts (Customer service on support@, Webmaster with its own address
in another folder of the same login), a Czech customer, an agent answering from neomutt (attribution, quote,
signature, `#close` on the last line of the new text). The SMTP server delivers every mail we send into Dovecot, and
the mail is read back over IMAP in order: the customer's mails form one thread under their own message, in Czech,
with only the agent's new text; the agent's mails form one thread per ticket; the survey link counts.
"""

from __future__ import annotations

import email
import itertools
import json
import re
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

from mailbridge.base.clock import FixedClock
from tests.conftest import IMAP_PASSWORD_ENV, SUPPORT_USER, run_cli
from tests.servers.smtp_sink import start_smtp_sink

LOGIN = "support"
WEBMASTER = "webmaster@shop.example"
# Every case has its own customer and agent: their INBOXes on the session's Dovecot are read back whole.
_people = itertools.count(1)
REQUEST = "Dobrý den, moje objednávka 1234 ještě nedorazila. Můžete to prosím zkontrolovat? Děkuji, Petr"
ANSWER = "Zásilka odešla dnes ráno, sledovací číslo je TR-5581."
RATE = re.compile(r'href="mailto:([a-z]+\+rate-[a-z2-7.]+-(\d)@shop\.example)\?subject=([^"]+)"')


@pytest.fixture
def delivering_sink(dovecot):
    """An SMTP server that delivers every mail it accepts into the recipient's INBOX on the test Dovecot."""
    sink = start_smtp_sink(deliver_to=dovecot)
    yield sink
    sink.stop()


@pytest.fixture
def desk(config_file, dovecot, delivering_sink, mailbox):
    """The installation: two folders of the login `support`, one per Contact, Maria in both Contacts."""
    n = next(_people)
    agent, customer = f"maria{n}@shop.example", f"petr.dvorak{n}@example.cz"
    dovecot.add_user(LOGIN)
    web = mailbox + "Web"
    for folder in (mailbox, web):
        dovecot.create_folder(LOGIN, folder)
    second = f"""
[[mailboxes]]
name = "webmaster"
host = "127.0.0.1"
port = {dovecot.imaps_port}
security = "ssl"
ca_file = "{dovecot.ca_file}"
username = "{LOGIN}"
password_env = "{IMAP_PASSWORD_ENV}"
folder = "{web}"
contact = "Webmaster"
addresses = ["{WEBMASTER}"]
initial_sync = "import"
timeout_seconds = 5
"""
    config = config_file(username=LOGIN, smtp_port=delivering_sink.port, extra=second, create_contact=True)
    # The admin's steps: the second Contact exists before the daemon runs (a typo would be an error, not a new one).
    for args in (
        ("contacts", "add", "Webmaster", "--address", WEBMASTER),
        ("contacts", "edit", "Customer service", "--greeting", "Gentile {{ customer.name }},"),
        ("contacts", "edit", "Customer service", "--signature", "Cordiali saluti"),
        ("agents", "add", agent, "--name", "Maria Rossi"),
        ("contacts", "members", "Customer service", "--add", agent),
        ("contacts", "members", "Webmaster", "--add", agent),
    ):
        assert ok(config, *args)
    for contact in ("Customer service", "Webmaster"):
        assert ok(
            config,
            *("contacts", "reply-text", contact, "--locale", "cs"),
            *("--greeting", "Dobrý den, {{ customer.name }},", "--signature", "S pozdravem"),
        )
    return {
        "config": config,
        "folders": {"Customer service": mailbox, "Webmaster": web},
        "agent": agent,
        "customer": customer,
    }


def ok(config, *args: str) -> str:
    result = run_cli(*args, config=config)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def cycle(config) -> None:
    ok(config, "run", "--once")


def inbox(dovecot, user: str) -> list[EmailMessage]:
    return [email.message_from_bytes(raw, policy=policy.default) for raw in dovecot.messages(user)]


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()


def customer_writes(
    customer: str, to: str, subject: str, body: str, *, in_reply_to: EmailMessage | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Petr Dvořák <{customer}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(FixedClock().now())
    message["Message-ID"] = make_msgid(domain="example.cz")
    if in_reply_to is not None:
        message["In-Reply-To"] = in_reply_to["Message-ID"]
        message["References"] = f"{in_reply_to.get('References', '')} {in_reply_to['Message-ID']}".strip()
    message.set_content(body)
    return message


def as_raw(message: EmailMessage) -> bytes:
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def neomutt_answer(agent: str, notification: EmailMessage, new_text: str, *, bottom: bool) -> bytes:
    """What neomutt sends: attribution and the quoted notification, the answer with `#close` on its last line, and a
    signature; the answer under the quote (bottom: neomutt's default) or above it."""
    quoted = "\n".join(f"> {line}" for line in text_of(notification).splitlines())
    quote = f"On Tue, Nov 24, 2026 at 09:05:00AM +0100, Shop support wrote:\n{quoted}\n"
    answer = f"{new_text}\n#close\n"
    signature = "-- \nMaria Rossi | Shop support\n"
    body = f"{quote}\n{answer}\n{signature}" if bottom else f"{answer}\n{quote}\n{signature}"
    message = EmailMessage()
    message["From"] = f"Maria Rossi <{agent}>"
    message["To"] = notification["Reply-To"].addresses[0].addr_spec
    message["Subject"] = "Re: " + notification["Subject"]
    message["Date"] = format_datetime(FixedClock().now())
    message["Message-ID"] = make_msgid(domain="shop.example")
    message["In-Reply-To"] = notification["Message-ID"]
    message["References"] = notification["Message-ID"]
    message["User-Agent"] = "NeoMutt/20231103"
    message.set_content(body)
    return as_raw(message)


def ids(value: str | None) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


@pytest.mark.parametrize(
    ("contact", "bottom"), [("Customer service", True), ("Webmaster", True), ("Customer service", False)]
)
def test_a_czech_customer_and_a_neomutt_agent_make_one_thread_each(desk, dovecot, contact, bottom):
    config, folder = desk["config"], desk["folders"][contact]
    agent, customer = desk["agent"], desk["customer"]
    address = SUPPORT_USER if contact == "Customer service" else WEBMASTER
    first = customer_writes(customer, address, "Objednávka 1234 nedorazila", REQUEST)
    dovecot.append(LOGIN, folder, as_raw(first))
    cycle(config)

    [receipt] = inbox(dovecot, customer)
    number = re.search(r"\[#(\d+)\]", receipt["Subject"])[1]
    assert receipt["From"].addresses[0].addr_spec == address
    assert "vaši zprávu jsme přijali" in text_of(receipt)  # the receipt is in Czech
    [notification] = inbox(dovecot, agent)
    assert "Petr Dvořák" in str(notification["From"])  # the agent sees whose ticket it is

    dovecot.append(LOGIN, folder, neomutt_answer(agent, notification, ANSWER, bottom=bottom))
    cycle(config)
    ticket = json.loads(ok(config, "tickets", "show", number, "--json"))
    assert ticket["status"] == "closed"

    customer_mail = inbox(dovecot, customer)
    answer = next(m for m in customer_mail if ANSWER in text_of(m))
    text = text_of(answer)
    assert text.startswith("Dobrý den, Petr Dvořák,") and "S pozdravem" in text
    assert "Gentile" not in text and "Cordiali" not in text
    assert "#close" not in text and "> " not in text and "wrote:" not in text and "Maria Rossi |" not in text
    surveys = [m for m in customer_mail if RATE.search(m.get_body(("html",)).get_content())]
    assert len(surveys) == 1, ok(config, "tickets", "show", number)

    # One conversation for the customer: everything answers their own message, in order.
    assert [m["Message-ID"] for m in customer_mail] == list(dict.fromkeys(m["Message-ID"] for m in customer_mail))
    for mail in customer_mail:
        assert ids(mail["In-Reply-To"]) == [first["Message-ID"]], mail["Subject"]
        assert ids(mail["References"])[0] == first["Message-ID"], mail["Subject"]
        assert f"[#{number}]" in mail["Subject"]
        assert notification["Message-ID"] not in (mail["References"] or "")
    assert [ids(m["References"]) for m in customer_mail] == sorted(
        (ids(m["References"]) for m in customer_mail), key=len
    )

    # The survey link counts: the customer clicks "5" (their client writes a mail to that address).
    rate_to, score, subject = next(RATE.search(m.get_body(("html",)).get_content()).groups() for m in surveys)
    click = customer_writes(customer, rate_to, subject.replace("%20", " "), "", in_reply_to=surveys[0])
    dovecot.append(LOGIN, folder, as_raw(click))
    cycle(config)
    shown = json.loads(ok(config, "tickets", "show", number, "--json"))
    assert shown["rating"]["score"] == int(score) and shown["status"] == "closed"

    # One thread per ticket for the agent: each later mail about the ticket answers the one before.
    agent_mail = [m for m in inbox(dovecot, agent) if f"[#{number}]" in m["Subject"]]
    for earlier, later in zip(agent_mail, agent_mail[1:], strict=False):
        assert ids(later["In-Reply-To"]) == [earlier["Message-ID"]]
