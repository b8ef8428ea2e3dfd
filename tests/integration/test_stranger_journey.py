"""The whole customer journey on the real daemon, as a stranger sets it up: a Dovecot login without "@" receiving two
Contacts' addresses in one folder, agents added with the CLI, customers writing German, Italian, Czech and Greek
(quoted-printable and base64 bodies, encoded-word subjects); receipt, notification, relayed answer, #close, survey,
reopening; then a SIGTERM right after a batch and a SIGKILL in the middle of another, and what `tickets`, `status`
and the servers show after all that.
"""

from __future__ import annotations

import email
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailbridge.base.clock import SystemClock
from mailbridge.runtime.fleet import Fleet
from mailbridge.runtime.jobs import take_back_claims
from mailbridge.store import db, outbox_queue
from mailbridge.store import fleet as fleet_store
from mailbridge.store.fleet import Identity
from mailbridge.store.models import OutboxMail
from tests.conftest import REPO, SUPPORT_USER, run_cli_process
from tests.servers.util import wait_until

LOGIN = "support"  # a Dovecot login without "@"
WEBMASTER = "webmaster@shop.example"
OURS = (SUPPORT_USER, WEBMASTER)
CONTACT_NAMES = {SUPPORT_USER: "Customer service", WEBMASTER: "Webmaster"}
MARIA = "maria@shop.example"  # Customer service, reads Italian
LUCA = "luca@shop.example"  # Webmaster, reads German
BATCH = 30
WAIT = 60.0

# (locale, sender name, subject, body, what our receipt in that language says)
CUSTOMERS = {
    "de": (
        "Jürgen Weiß",
        "Bestellung über Größe 42 – Lieferung verspätet",
        "Guten Tag, ich habe vor zwei Wochen ein Paar Schuhe in Größe 42 bestellt, aber das Paket ist noch immer "
        "nicht angekommen. Könnten Sie bitte nachsehen, wo meine Bestellung geblieben ist? Vielen Dank und "
        "freundliche Grüße.",
        "wir haben Ihre Nachricht erhalten",
    ),
    "it": (
        "Niccolò Pellegrini",
        "Perché il mio ordine non è ancora arrivato?",
        "Buongiorno, ho ordinato una lampada da tavolo dieci giorni fa e non è ancora arrivata. Potreste per "
        "favore controllare lo stato della spedizione? Grazie mille e cordiali saluti.",
        "abbiamo ricevuto il Suo messaggio",
    ),
    "cs": (
        "Petr Dvořák",
        "Objednávka stále nedorazila – prosím o pomoc",
        "Dobrý den, před dvěma týdny jsem si objednal zimní bundu, ale zásilka ještě nedorazila. Mohli byste "
        "prosím zjistit, kde se moje objednávka nachází? Děkuji předem za odpověď.",
        "vaši zprávu jsme přijali",
    ),
    "el": (
        "Γιώργος Παπαδόπουλος",
        "Η παραγγελία μου δεν έχει φτάσει ακόμα",
        "Καλησπέρα σας, παρήγγειλα ένα ζευγάρι παπούτσια πριν από δύο εβδομάδες και το δέμα δεν έχει φτάσει "
        "ακόμα. Θα μπορούσατε παρακαλώ να ελέγξετε πού βρίσκεται η παραγγελία μου; Ευχαριστώ πολύ.",
        "λάβαμε το μήνυμά σας",
    ),
}
RECEIPT_SAYS = {locale: says for locale, (_, _, _, says) in CUSTOMERS.items()}
NOTIFICATION_SAYS = {"it": "Stato:", "de": "Kunde:"}
ANSWERS = {
    "de": "Ihr Paket wurde heute erneut verschickt, die Sendungsnummer lautet TR-7781.",
    "el": "Το δέμα σας στάλθηκε ξανά σήμερα, αριθμός αποστολής TR-7782.",
}
SURVEY_SAYS = {"de": "ist abgeschlossen", "el": "έκλεισε"}
REOPEN_TEXT = {
    "de": "Leider ist das Paket wieder nicht angekommen, können Sie bitte noch einmal nachsehen?",
    "el": "Δυστυχώς το δέμα δεν έφτασε ούτε αυτή τη φορά, μπορείτε να ελέγξετε ξανά;",
}


def mail_from_customer(
    *,
    locale: str,
    sender: str,
    to_address: str,
    cte: str,
    subject: str | None = None,
    body: str | None = None,
    in_reply_to: EmailMessage | None = None,
) -> bytes:
    """A customer's mail in their language, UTF-8, its subject an encoded word and its body in `cte`."""
    name, first_subject, first_body, _ = CUSTOMERS[locale]
    message = EmailMessage()
    message["From"] = Address(name, addr_spec=sender)
    message["To"] = to_address
    message["Subject"] = subject or first_subject
    message["Date"] = formatdate()
    message["Message-ID"] = make_msgid(domain=sender.split("@")[1])
    if in_reply_to is not None:
        message["In-Reply-To"] = in_reply_to["Message-ID"]
        message["References"] = f"{in_reply_to['References'] or ''} {in_reply_to['Message-ID']}".strip()
    message.set_content(body or first_body, charset="utf-8", cte=cte)
    raw = message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    subject_line = raw.split(b"\r\nSubject: ", 1)[1].split(b"\r\nDate:", 1)[0]
    assert b"=?utf-8?" in subject_line and f"Content-Transfer-Encoding: {cte}".encode() in raw
    return raw


def agent_answer(*, sender: str, notification: EmailMessage, body: str) -> bytes:
    """An agent's reply to their notification, from their mail client, to its signed Reply-To."""
    message = EmailMessage()
    message["From"] = Address("Agent", addr_spec=sender)
    message["To"] = notification["Reply-To"]
    message["Subject"] = "Re: " + notification["Subject"]
    message["Date"] = formatdate()
    message["Message-ID"] = make_msgid(domain="shop.example")
    message["In-Reply-To"] = notification["Message-ID"]
    message["References"] = notification["Message-ID"]
    message.set_content(body)
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def config_text(dovecot, sink, folder: str, db_path: Path) -> str:
    return f"""
[database]
url = "sqlite:///{db_path}"

[support]
from_name = "Shop support"
from_address = "{SUPPORT_USER}"
secret_env = "MAILBRIDGE_TEST_SECRET"

[smtp]
host = "127.0.0.1"
port = {sink.port}
security = "plain"
timeout_seconds = 5

[schedule]
poll_interval_seconds = 1
outbox_interval_seconds = 1

[agents]
send_delay_seconds = 0

[[mailboxes]]
name = "support"
host = "127.0.0.1"
port = {dovecot.imaps_port}
security = "ssl"
ca_file = "{dovecot.ca_file}"
username = "{LOGIN}"
password_env = "MAILBRIDGE_TEST_IMAP_PASSWORD"
folder = "{folder}"
contact = "Customer service"
create_contact = true
addresses = ["{SUPPORT_USER}", "{WEBMASTER}"]
initial_sync = "import"
timeout_seconds = 5
"""


class Journey:
    """The daemon's process, its configuration and what the servers and the database show."""

    def __init__(self, dovecot, sink, folder: str, tmp_path: Path):
        self.dovecot, self.sink, self.folder = dovecot, sink, folder
        self.db_path = tmp_path / "mailbridge.db"
        self.config = tmp_path / "mailbridge.toml"
        self.config.write_text(config_text(dovecot, sink, folder, self.db_path), encoding="utf-8")
        self.log = tmp_path / "daemon.log"
        self.daemon: subprocess.Popen | None = None
        self.appended: list[str] = []  # Message-IDs of every mail put into the folder

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return run_cli_process(*args, config=self.config)

    def ok(self, *args: str) -> str:
        result = self.cli(*args)
        assert result.returncode == 0, f"mailbridge {' '.join(args)}: {result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout

    def start(self) -> None:
        assert self.daemon is None or self.daemon.poll() is not None
        self.daemon = subprocess.Popen(
            [sys.executable, "-m", "mailbridge", "--config", str(self.config), "run"],
            cwd=REPO,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int) -> float:
        """Send `sig` to the daemon; return the seconds it took to exit."""
        assert self.daemon is not None and self.daemon.poll() is None, self.log_tail()
        started = time.monotonic()
        os.kill(self.daemon.pid, sig)
        code = self.daemon.wait(timeout=30)
        took = time.monotonic() - started
        if sig == signal.SIGTERM:
            assert code == 0, f"SIGTERM: exit {code}\n{self.log_tail()}"
        return took

    def log_tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:] if self.log.exists() else ""

    def append(self, raw: bytes) -> None:
        self.dovecot.append(LOGIN, self.folder, raw)
        self.appended.append(email.message_from_bytes(raw)["Message-ID"])

    def append_all(self, mails: list[bytes]) -> None:
        with self.dovecot.client(LOGIN) as client:
            for raw in mails:
                client.append(self.folder, raw)
                self.appended.append(email.message_from_bytes(raw)["Message-ID"])

    def query(self, sql: str, *args) -> list[tuple]:
        try:
            with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5) as connection:
                return connection.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []

    def stored(self) -> int:
        return (self.query("SELECT count(*) FROM message WHERE direction = 'in'") or [(0,)])[0][0]

    def mails(self) -> list[EmailMessage]:
        return [email.message_from_bytes(m.data, policy=policy.default) for m in list(self.sink.messages)]

    def kinds(self) -> dict[str, str]:
        """Message-ID of each outgoing mail -> its kind."""
        return dict(self.query("SELECT message_id, kind FROM outboxmail"))

    def sent(self, kind: str, to_address: str) -> list[EmailMessage]:
        kinds = self.kinds()
        return [
            m
            for m in self.mails()
            if kinds.get(m["Message-ID"]) == kind and any(a.addr_spec == to_address for a in m["To"].addresses)
        ]

    def wait_for(self, kind: str, to_address: str, count: int = 1) -> list[EmailMessage]:
        ok = wait_until(lambda: len(self.sent(kind, to_address)) >= count, timeout=WAIT, interval=0.2)
        assert ok, f"no {kind} to {to_address} after {WAIT}s\n{self.log_tail()}"
        return self.sent(kind, to_address)


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def ticket_number(mail: EmailMessage) -> str:
    subject = str(mail["Subject"])
    start = subject.index("[#") + 2
    return subject[start : subject.index("]", start)]


@pytest.fixture
def journey(dovecot, sink, mailbox, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRIDGE_TEST_IMAP_PASSWORD", dovecot.password)
    monkeypatch.setenv("MAILBRIDGE_TEST_SECRET", "test-secret-for-reply-tokens")
    dovecot.add_user(LOGIN)
    dovecot.create_folder(LOGIN, mailbox)
    trip = Journey(dovecot, sink, mailbox, tmp_path)
    try:
        yield trip
    finally:
        if trip.daemon is not None and trip.daemon.poll() is None:
            trip.daemon.kill()
            trip.daemon.wait()


def first_contact(journey: Journey) -> dict[str, dict]:
    """Each language's customer writes once; return per locale its mail, receipt and agent notification."""
    plan = {
        "de": (SUPPORT_USER, "quoted-printable", MARIA),
        "it": (WEBMASTER, "base64", LUCA),
        "cs": (SUPPORT_USER, "base64", MARIA),
        "el": (WEBMASTER, "quoted-printable", LUCA),
    }
    seen: dict[str, dict] = {}
    for locale, (address, cte, _) in plan.items():
        raw = mail_from_customer(locale=locale, sender=f"first.{locale}@example.{locale}", to_address=address, cte=cte)
        journey.append(raw)
        seen[locale] = {"mail": email.message_from_bytes(raw, policy=policy.default), "contact": address}
    for locale, (address, _, agent) in plan.items():
        customer = f"first.{locale}@example.{locale}"
        [receipt] = journey.wait_for("receipt", customer)
        mail = seen[locale]["mail"]
        assert RECEIPT_SAYS[locale] in text_of(receipt), f"{locale} receipt: {text_of(receipt)}"
        assert receipt["From"].addresses[0].addr_spec == address, (locale, str(receipt["From"]))
        assert receipt["In-Reply-To"] == mail["Message-ID"]
        number = ticket_number(receipt)
        assert CUSTOMERS[locale][1] in str(receipt["Subject"])
        seen[locale].update(receipt=receipt, number=number, agent=agent)
    for agent, agent_locale in ((MARIA, "it"), (LUCA, "de")):
        notifications = journey.wait_for("agent_notification", agent, count=2)
        numbers = {ticket_number(n) for n in notifications}
        assert numbers == {seen[lo]["number"] for lo in seen if seen[lo]["agent"] == agent}, (agent, numbers)
        for note in notifications:
            assert NOTIFICATION_SAYS[agent_locale] in text_of(note), f"{agent}: {text_of(note)}"
            reply_to = note["Reply-To"].addresses[0].addr_spec
            local = "support" if agent == MARIA else "webmaster"
            assert reply_to.startswith(f"{local}+a.") and reply_to.endswith("@shop.example"), reply_to
    for locale in seen:
        agent = seen[locale]["agent"]
        seen[locale]["notification"] = next(
            n for n in journey.sent("agent_notification", agent) if ticket_number(n) == seen[locale]["number"]
        )
    return seen


def answer_close_and_reopen(journey: Journey, locale: str, ticket: dict) -> None:
    """The agent answers, then closes; the customer gets the answer threaded and a survey; their reply reopens."""
    customer = ticket["mail"]["From"].addresses[0].addr_spec
    agent, notification = ticket["agent"], ticket["notification"]
    journey.append(agent_answer(sender=agent, notification=notification, body=ANSWERS[locale]))
    [relayed] = journey.wait_for("agent_reply", customer)
    ticket["relayed"] = relayed
    assert ANSWERS[locale] in text_of(relayed)
    assert relayed["From"].addresses[0].addr_spec == ticket["contact"]
    assert relayed["Auto-Submitted"] is None
    assert relayed["In-Reply-To"] == ticket["mail"]["Message-ID"], (
        relayed["In-Reply-To"],
        ticket["mail"]["Message-ID"],
    )
    assert ticket["mail"]["Message-ID"] in relayed["References"]
    assert f"[#{ticket['number']}]" in str(relayed["Subject"])

    journey.append(agent_answer(sender=agent, notification=notification, body="#close"))
    [survey] = journey.wait_for("survey", customer)
    assert survey["From"].addresses[0].addr_spec == ticket["contact"]
    assert SURVEY_SAYS[locale] in text_of(survey), text_of(survey)
    assert wait_until(
        lambda: journey.query("SELECT status FROM ticket WHERE number = ?", ticket["number"]) == [("closed",)],
        timeout=WAIT,
    )
    assert len(journey.sent("agent_reply", customer)) == 1, "#close alone is no answer to relay"

    reply = mail_from_customer(
        locale=locale,
        sender=customer,
        to_address=str(relayed["Reply-To"] or relayed["From"]),
        cte="quoted-printable",
        subject="Re: " + str(relayed["Subject"]),
        body=REOPEN_TEXT[locale],
        in_reply_to=relayed,
    )
    notes_before = len(journey.sent("agent_notification", agent))
    journey.append(reply)
    assert wait_until(
        lambda: journey.query("SELECT status FROM ticket WHERE number = ?", ticket["number"]) == [("open",)],
        timeout=WAIT,
    ), journey.query("SELECT status FROM ticket WHERE number = ?", ticket["number"])
    notes = journey.wait_for("agent_notification", agent, count=notes_before + 1)
    assert REOPEN_TEXT[locale] in text_of(notes[-1]) and ticket_number(notes[-1]) == ticket["number"]
    assert len(journey.sent("receipt", customer)) == 1, "a reopened ticket is no new ticket"


def check_tickets_cli(journey: Journey, seen: dict[str, dict]) -> None:
    """`tickets list --json` and `tickets show --json` say what the sink got."""
    listed = json.loads(journey.ok("tickets", "list", "--json"))
    by_number = {t["number"]: t for t in listed}
    for locale, ticket in seen.items():
        row = by_number[ticket["number"]]
        customer = ticket["mail"]["From"].addresses[0].addr_spec
        assert customer in json.dumps(row), row
        expected = "open" if locale in ANSWERS else "new"
        assert row["status"] == expected, (locale, row)
        assert (row["customer"], row["contact"]) == (customer, CONTACT_NAMES[ticket["contact"]]), row
        assert row["assigned_agent"] == (ticket["agent"] if locale in ANSWERS else None), row
        shown = json.loads(journey.ok("tickets", "show", ticket["number"], "--json"))
        assert shown["subject"] == CUSTOMERS[locale][1] and shown["customer_name"] == CUSTOMERS[locale][0]
        first = shown["messages"][0]
        assert (first["direction"], first["kind"], first["message_id"]) == (
            "in",
            "customer",
            ticket["mail"]["Message-ID"],
        )
        if locale in ANSWERS:
            out = {m["message_id"]: m for m in shown["messages"] if m["direction"] == "out"}
            relayed = out[ticket["relayed"]["Message-ID"]]  # the very mail the customer got
            assert relayed["kind"] == "agent_reply" and relayed["in_reply_to"] == ticket["mail"]["Message-ID"]
            assert REOPEN_TEXT[locale] in shown["messages"][-1]["text"]


def batch(journey: Journey, tag: str) -> list[bytes]:
    """BATCH new customers, each language in turn, to either address, alternating transfer encodings."""
    locales = list(CUSTOMERS)
    mails = []
    for n in range(BATCH):
        locale = locales[n % len(locales)]
        mails.append(
            mail_from_customer(
                locale=locale,
                sender=f"{tag}{n}.{locale}@example.{locale}",
                to_address=OURS[n % 2],
                cte=("quoted-printable", "base64")[(n // 2) % 2],
                subject=f"{CUSTOMERS[locale][1]} ({tag} {n})",
            )
        )
    return mails


def test_stranger_journey_on_the_real_daemon(journey, dovecot, sink, mailbox):
    journey.ok("db", "upgrade")  # what the error of `contacts add` on a new database asks for
    journey.ok("contacts", "add", "Webmaster", "--address", WEBMASTER)
    journey.ok("agents", "add", MARIA, "--name", "Maria Rossi", "--contact", "Customer service", "--locale", "it")
    journey.ok("agents", "add", LUCA, "--name", "Luca Bauer", "--contact", "Webmaster", "--locale", "de")
    contacts = journey.ok("contacts", "list")
    assert SUPPORT_USER in contacts and WEBMASTER in contacts, contacts
    journey.start()
    began = time.monotonic()

    seen = first_contact(journey)
    print(f"receipts and notifications: {time.monotonic() - began:.1f}s")
    for locale in ANSWERS:
        answer_close_and_reopen(journey, locale, seen[locale])
    print(f"answered, closed, surveyed, reopened: {time.monotonic() - began:.1f}s")
    check_tickets_cli(journey, seen)

    # A SIGTERM right after a batch is appended: a clean, quick exit.
    first = batch(journey, "term")
    journey.append_all(first)
    took = journey.stop(signal.SIGTERM)
    print(f"SIGTERM after the batch: exit 0 in {took:.2f}s, {journey.stored()} messages stored")
    assert took < 5, f"SIGTERM took {took:.1f}s\n{journey.log_tail()}"

    # Start again, and SIGKILL in the middle of the next batch.
    journey.start()
    assert wait_until(lambda: journey.stored() == len(journey.appended), timeout=WAIT), journey.log_tail()
    assert wait_until(lambda: not journey.query("SELECT id FROM outboxmail WHERE status <> 'sent'"), timeout=WAIT)
    second = batch(journey, "kill")
    before, sent_before = journey.stored(), len(sink.messages)
    journey.append_all(second)
    # The batch is stored in one commit and its mail is being sent: kill while that is under way.
    assert wait_until(lambda: len(sink.messages) > sent_before, timeout=WAIT, interval=0.005), journey.log_tail()
    journey.stop(signal.SIGKILL)
    print(
        f"SIGKILL: {journey.stored() - before} of the second batch of {BATCH} stored, "
        f"{len(sink.messages) - sent_before} of its mails sent"
    )

    journey.start()
    customers = [email.message_from_bytes(raw)["From"] for raw in first + second]
    addresses = [email.utils.parseaddr(c)[1] for c in customers]
    assert wait_until(lambda: all(journey.sent("receipt", a) for a in addresses), timeout=WAIT, interval=0.5), (
        journey.log_tail()
    )
    assert wait_until(lambda: not journey.query("SELECT id FROM outboxmail WHERE status <> 'sent'"), timeout=WAIT)
    print(f"after the restarts, everything sent: {time.monotonic() - began:.1f}s")
    time.sleep(2)  # a few more rounds: nothing more
    took = journey.stop(signal.SIGTERM)
    assert took < 5, f"SIGTERM took {took:.1f}s"

    everything_once(journey, seen, addresses)
    status_makes_sense(journey)
    log = journey.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-3000:]


def everything_once(journey: Journey, seen: dict[str, dict], batch_customers: list[str]) -> None:
    stored = Counter(r[0] for r in journey.query("SELECT message_id FROM message WHERE direction = 'in'"))
    assert stored == Counter(journey.appended), "every mail stored once"

    mails = journey.mails()
    resends = len(mails) - len({m["Message-ID"] for m in mails})
    print(f"identical resends (same Message-ID): {resends}")
    for mid, count in Counter(m["Message-ID"] for m in mails).items():
        if count > 1:
            copies = {m.as_bytes() for m in mails if m["Message-ID"] == mid}
            assert len(copies) == 1, f"{mid} sent {count} times with different bytes"
            print(f"  resent {count}x: {mid} ({journey.kinds().get(mid)})")
    tickets = journey.query("SELECT number, contact_id FROM ticket")
    assert len(tickets) == len(seen) + len(batch_customers), tickets
    receipts_by_ticket: Counter[str] = Counter()
    for m in {m["Message-ID"]: m for m in mails}.values():
        if journey.kinds().get(m["Message-ID"]) == "receipt":
            receipts_by_ticket[ticket_number(m)] += 1
    assert set(receipts_by_ticket.values()) == {1} and len(receipts_by_ticket) == len(tickets), receipts_by_ticket

    for received in journey.sink.messages:
        for rcpt in received.rcpt_tos:
            local, _, domain = rcpt.lower().partition("@")
            assert not (domain == "shop.example" and local.split("+")[0] in ("support", "webmaster")), rcpt

    contacts = dict(journey.query("SELECT id, email FROM contact"))
    for n, raw_from in enumerate(batch_customers):
        [receipt] = {m["Message-ID"]: m for m in journey.sent("receipt", raw_from)}.values()
        locale = raw_from.rsplit(".", 1)[1]
        assert RECEIPT_SAYS[locale] in text_of(receipt), (raw_from, text_of(receipt))
        expected = OURS[n % 2]
        assert receipt["From"].addresses[0].addr_spec == expected, (raw_from, str(receipt["From"]))
        [(contact_id,)] = journey.query("SELECT contact_id FROM ticket WHERE number = ?", ticket_number(receipt))
        assert contacts[contact_id] == expected

    flags = journey.dovecot.flags(LOGIN, journey.folder)
    assert len(flags) == len(journey.appended)
    assert all("\\Seen" in f for f in flags.values()), flags


def status_makes_sense(journey: Journey) -> None:
    status = journey.cli("status")
    print(status.stdout)
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr and "support" in status.stdout
    check = journey.cli("status", "--check")
    print(check.stdout)
    [line] = check.stdout.strip().splitlines()
    assert line.startswith("MAILBRIDGE "), line
    # Nothing is held, failing or quarantined; the daemon was stopped cleanly, and two tickets were reopened and
    # not answered yet (within their first-response time): OK.
    assert check.returncode == 0 and line.startswith("MAILBRIDGE OK"), line


def claimed_row(
    n: int, now, *, kind: str, rcpt_to: str, status: str = "sending", claimed_by: str | None = None, tag: str = "c"
):
    """An outbox row claimed (attempt 1) at `now`, as a daemon leaves it when it is killed while sending."""
    return OutboxMail(
        dedupe_key=f"test:{n}",
        kind=kind,
        message_id=f"<{tag}{n}@shop.example>",
        mail_from=SUPPORT_USER,
        rcpt_to=rcpt_to,
        raw=b"Subject: x\r\n\r\nx\r\n",
        status=status,
        attempts=1,
        created_at=now,
        next_attempt_at=now,
        last_attempt_at=now,
        claimed_by=claimed_by,
    )


def test_daemon_that_starts_forgets_the_rows_its_host_left_behind_when_killed(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path}/fleet.db")
    db.upgrade_schema(engine)
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    fleet = Fleet(engine, ["support"], lease_seconds=60)
    here, now = fleet.me.host, SystemClock().now()
    rows = {
        "killed": Identity("killed", here, ended.pid),
        "same-pid": Identity("same-pid", here, os.getpid()),  # a container restarted: the new daemon has its pid
        "alive": Identity("alive", here, os.getppid()),  # a process that runs (SIGSTOP'd daemons are kept too)
        "elsewhere": Identity("elsewhere", "another-host.example", ended.pid),  # not ours to judge
    }
    sibling = Fleet(engine, ["support"], lease_seconds=60)  # another daemon of this process (tests run several)
    for row in [*rows.values(), sibling.me]:
        fleet_store.register(engine, row, now)
    fleet_store.read_leases(engine, ["support", "shop"])
    assert fleet_store.take(engine, rows["killed"], "support", now, now + timedelta(seconds=60))
    assert fleet_store.take(engine, rows["elsewhere"], "shop", now, now + timedelta(seconds=60))
    with db.transaction(engine) as session:  # each was sending a mail when the killed one died
        for n, claimer in enumerate(rows):
            session.add(claimed_row(n, now, kind="receipt", rcpt_to="anna@example.org", claimed_by=claimer))

    fleet.join()

    assert set(fleet_store.daemon_names(engine)) == {fleet.me.instance, sibling.me.instance, "alive", "elsewhere"}
    leases = fleet_store.read_leases(engine, ["support", "shop"])
    assert leases["support"].holder is None, "the killed daemon's mailbox is free at once, not after its lease"
    assert leases["shop"].holder == "elsewhere"
    assert fleet.lease_round().held == {"support"}
    with Session(engine) as session:
        states = {row.claimed_by: row.status for row in session.exec(select(OutboxMail))}
    # The dead ones' mail is queued again at once (not after the two-minute claim); the others' stays theirs.
    assert states == {"killed": "queued", "same-pid": "queued", "alive": "sending", "elsewhere": "sending"}


def test_daemon_on_sqlite_sends_what_a_killed_run_left_sending_without_waiting_out_the_lease(make_app, clock):
    app = make_app()
    now = clock.now()
    with db.transaction(app.engine) as session:
        for n, status in enumerate(("sending", "sent")):
            session.add(claimed_row(n, now, kind="agent_notification", rcpt_to=MARIA, status=status, tag="m"))
    with db.transaction(app.engine) as session:
        assert outbox_queue.claim_due(session=session, now=now) == []  # claimed a moment ago: its lease runs

    assert take_back_claims(app) == 1

    with db.transaction(app.engine) as session:
        [again] = outbox_queue.claim_due(session=session, now=now)
        assert (again.message_id, again.attempts) == ("<m0@shop.example>", 2)
