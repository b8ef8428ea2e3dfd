"""Benchmark: start-up time of the `mailbridge` command, this working tree (B) against a base commit (A), in one run.

Checks out the base commit as a git worktree and runs its CLI with the same venv and PYTHONPATH=<worktree>; builds
one SQLite store of N messages (N/4 tickets, customers, agents, events, outbox rows, ratings, a few attachments) by
bulk SQL inserts into the base's schema and gives each side its own copy (this tree's copy upgraded by its own
migrations, as an installation would be); starts a throwaway Dovecot with an empty INBOX and an SMTP sink for
`run --once`; then times `--version`, `--help`, `tickets list`, `tickets show`, `status` and `run --once` in fresh
processes (wall clock around subprocess.run), A and B alternately so both share the machine's noise, and prints the
medians against the targets of issue 17.

    ./dev.sh bench cli [--base 781b686] [--runs 15] [--messages 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime, formataddr
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.ingest import PEOPLE, cpu_probe  # noqa: E402
from mailbridge.decisions.matching.ticket_numbers import damm_digit  # noqa: E402

PYTHON = REPO / ".venv" / "bin" / "python"
SUPPORT = "support@bench.example"
WEBMASTER = "webmaster@bench.example"
LOCALES = ("it", "cs", "el", "de", None, None, None, "en")  # of PEOPLE, in order: those mailbridge has templates for
AGENTS = [
    ("Maria Rossi", "maria@bench.example"),
    ("Tomáš Dvořák", "tomas@bench.example"),
    ("Eleni Georgiou", "eleni@bench.example"),
    ("Lukas Weber", "lukas@bench.example"),
    ("Sam Taylor", "sam@bench.example"),
]
ANSWERS = [
    "Thank you for your message. I have checked your order and it left our warehouse yesterday.",
    "We are sorry about the damage. A replacement is on its way; you do not need to send anything back.",
    "The corrected invoice is attached to this mail. Please let us know if anything else is wrong.",
    "Your refund has been approved and will reach your account within five working days.",
    "Could you send us a photo of the parcel and of the label? Then we can claim it with the carrier.",
]
RECENT_STATUSES = ["new", "open", "open", "waiting", "pending1", "pending2", "closed", "closed", "closed"]
ORDER_LINE = "Order {n}, placed on the web shop"
MATCH_REASONS = ["reply_token", "in_reply_to", "subject_number"]
CATEGORIES = [None, None, "Orders", "Orders > Returns", "Orders > Delivery", "Billing", "Technical"]
# The targets, seconds: (name, arguments, target).
COMMANDS = [
    ("--version", ["--version"], 0.3),
    ("--help", ["--help"], 0.3),
    ("tickets list", ["tickets", "list"], 0.5),
    ("tickets show", ["tickets", "show", "{number}"], 0.5),
    ("status", ["status"], 0.5),
    ("run --once", ["run", "--once"], 1.0),
]


@dataclass
class TicketPlan:
    id: int
    number: str
    status: str
    created: datetime
    customer: int
    contact: int
    agent: int | None
    messages: int
    person: int  # index into PEOPLE
    subject: str
    category: str | None


@dataclass
class Side:
    """One CLI under test: its source tree, its environment and its own copy of the store."""

    label: str
    tree: Path
    database: Path
    config: Path
    env: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)


def stamp(when: datetime) -> str:
    """A UTC time as SQLAlchemy stores a DateTime in SQLite (naive, microseconds)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def plan_tickets(rng: random.Random, messages: int, now: datetime) -> list[TicketPlan]:
    """Tickets over the last year, about four messages each: old ones closed, the last 30 days in every status."""
    count, numbers = max(1, messages // 4), set()
    customers = max(1, count * 2 // 3)
    plans = []
    for t in range(1, count + 1):
        while (body := str(10**9 + rng.randrange(9 * 10**9))) in numbers:
            pass
        numbers.add(body)
        created = now - timedelta(days=365) + timedelta(days=365, minutes=-30) * (t - 1) / count
        recent = now - created < timedelta(days=30)
        status = rng.choice(RECENT_STATUSES) if recent else rng.choices(["closed", "spam"], [95, 5])[0]
        customer = rng.randrange(1, customers + 1)
        person = customer % len(PEOPLE)  # the customer's language and name, as in people_rows
        plans.append(
            TicketPlan(
                id=t,
                number=body + damm_digit(body),
                status=status,
                created=created,
                customer=customer,
                contact=1 if rng.random() < 0.9 else 2,
                agent=None if status in ("new", "spam") else rng.randrange(1, len(AGENTS) + 1),
                messages=1 if status in ("new", "spam") else rng.randint(2, 7),
                person=person,
                subject=PEOPLE[person][1].format(n=10000 + t),
                category=rng.choice(CATEGORIES),
            )
        )
    # Exactly `messages` messages in all: take from or add to the tickets that have answers.
    answered = [p for p in plans if p.messages > 1] or plans
    total = sum(p.messages for p in plans)
    while total != messages:
        plan = rng.choice(answered)
        step = 1 if total < messages else -1
        if 1 <= plan.messages + step <= 12:
            plan.messages += step
            total += step
    return plans


def raw_mail(sender: tuple[str, str], to: str, subject: str, message_id: str, when: datetime, body: str) -> bytes:
    """A text/plain mail as a client sends it (8bit UTF-8 body, encoded-word headers where needed)."""
    headers = [
        f"Received: from mx.example.org (mx.example.org [192.0.2.25]) by mail.bench.example; {format_datetime(when)}",
        f"From: {formataddr(sender, 'utf-8')}",
        f"To: {to}",
        f"Subject: {Header(subject, 'us-ascii' if subject.isascii() else 'utf-8').encode()}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()


def sent_at(plan: TicketPlan, n: int, now: datetime) -> datetime:
    """When message n of a ticket was sent: five hours apart, the newest tickets' mail minutes apart before now."""
    return min(plan.created + timedelta(hours=5 * n), now - timedelta(minutes=15 - n))


def message_rows(rng: random.Random, plans: list[TicketPlan], now: datetime, firsts: dict, lasts: dict) -> Iterable:
    """Every ticket's mail: the customer's first message, then agent answers and customer replies in turn."""
    message, uid = 0, 0
    for plan in plans:
        name, _, text = PEOPLE[plan.person]
        customer = f"customer{plan.customer}@example.org"
        agent = AGENTS[(plan.agent or 1) - 1][0]
        for n in range(plan.messages):
            message, inbound, when = message + 1, n % 2 == 0, sent_at(plan, n, now)
            subject = plan.subject if n == 0 else f"Re: [#{plan.number}] {plan.subject}"
            if inbound:
                uid += 1
                stripped = f"{text}\n\n{name}\n{ORDER_LINE.format(n=10000 + plan.id)}"
                body = stripped + (f"\n\n> {rng.choice(ANSWERS)}\n>\n> {agent}\n" if n else "")
                sender, to = (name, customer), SUPPORT
                lasts[plan.id] = message
            else:
                stripped = body = f"{rng.choice(ANSWERS)}\n\n{rng.choice(ANSWERS)}\n\n{agent}"
                sender, to = (agent, SUPPORT), customer
            firsts.setdefault(plan.id, message)
            domain, other = ("example.org", "bench.example") if inbound else ("bench.example", "example.org")
            raw = raw_mail(sender, to, subject, f"<m{message}.{plan.id}@{domain}>", when, body)
            yield {
                "id": message,
                "ticket_id": plan.id,
                "direction": "in" if inbound else "out",
                "mailbox": "support" if inbound else None,
                "folder": "INBOX" if inbound else None,
                "uidvalidity": 1 if inbound else None,
                "uid": uid if inbound else None,
                "message_id": f"<m{message}.{plan.id}@{domain}>",
                "in_reply_to": f"<m{message - 1}.{plan.id}@{other}>" if n else None,
                "references": f"<m{message - 1}.{plan.id}@{other}>" if n else "",
                "from_addr": sender[1],
                "from_name": sender[0],
                "to_addrs": to,
                "cc_addrs": "",
                "subject": subject,
                "sent_at": stamp(when),
                "text_body": body,
                "stripped_text": stripped,
                "html_body": f"<html><body><p>{stripped}</p></body></html>" if inbound and rng.random() < 0.5 else "",
                "raw": raw,
                "raw_sha256": hashlib.sha256(raw).hexdigest(),
                "kind": "customer" if inbound else "agent_reply",
                "match_reason": (rng.choice(MATCH_REASONS) if n else "new") if inbound else None,
                "order_number": str(10000 + plan.id) if inbound and rng.random() < 0.3 else None,
                "is_malformed": 0,
                "defects": "",
                "stored_at": stamp(when + timedelta(seconds=5)),
            }


def ticket_row(plan: TicketPlan, now: datetime) -> dict:
    last = sent_at(plan, plan.messages - 1, now)
    closed = min(last + timedelta(days=1), now) if plan.status in ("closed", "spam") else None
    # Waiting since today: no ticket falls due for auto-close while the benchmark runs.
    changed = now - timedelta(hours=1 + plan.id % 18) if plan.status == "waiting" else closed or last
    answered = None if plan.status in ("new", "spam") else min(plan.created + timedelta(hours=2), now)
    # An unanswered ticket older than an hour was reported to the SLA escalation address already.
    reported = plan.created + timedelta(minutes=50) if plan.status == "new" else None
    return {
        "id": plan.id,
        "number": plan.number,
        "status": plan.status,
        "subject": plan.subject,
        "contact_id": plan.contact,
        "customer_id": plan.customer,
        "created_at": stamp(plan.created),
        "updated_at": stamp(max(changed, last)),
        "closed_at": closed and stamp(closed),
        "subject_key": plan.subject.lower(),
        "category": plan.category,
        "assigned_agent": AGENTS[plan.agent - 1][1] if plan.agent else None,
        "assigned_agent_id": plan.agent,
        "status_changed_at": stamp(changed),
        "first_response_at": answered and stamp(answered),
        "sla_reported_at": stamp(reported) if reported and reported < now else None,
    }


def event_rows(plans: list[TicketPlan]) -> Iterable[dict]:
    """The history of each ticket: created, receipt queued, assigned, its status set."""
    for plan in plans:
        at, customer = stamp(plan.created), f"customer:customer{plan.customer}@example.org"
        events: list[tuple[str, str, str | None, str | None, str]] = [
            (customer, "created", None, "new", "new message"),
            ("system", "mail_queued", None, None, "receipt"),
        ]
        if plan.agent:
            events.append(("agent:" + AGENTS[plan.agent - 1][1], "assigned", None, None, ""))
        if plan.status != "new":
            events.append(
                ("system" if plan.status == "spam" else "agent:cli", "status_changed", "new", plan.status, "")
            )
        for actor, kind, old, new, reason in events:
            yield {
                "ticket_id": plan.id,
                "at": at,
                "actor": actor,
                "kind": kind,
                "old_status": old,
                "new_status": new,
                "reason": reason,
            }


def outbox_rows(plans: list[TicketPlan], firsts: dict, now: datetime) -> Iterable[dict]:
    """A sent receipt per ticket; of the newest 40, 30 held after a refusal and 10 queued for a retry hours away."""
    for plan in plans:
        message_id, rcpt = f"<receipt.{plan.id}@bench.example>", f"customer{plan.customer}@example.org"
        subject, body = f"[#{plan.number}] {plan.subject}", f"We received your message.\nTicket: {plan.number}\n"
        status, next_at, error = "sent", plan.created, ""
        if plan.id > len(plans) - 40:
            status, error = ("held", "550 5.1.1 mailbox unavailable") if plan.id % 4 else ("queued", "451 4.7.1 later")
            next_at = now + timedelta(hours=6)
        yield {
            "dedupe_key": f"receipt:{plan.id}:{firsts[plan.id]}",
            "ticket_id": plan.id,
            "kind": "receipt",
            "message_id": message_id,
            "mail_from": SUPPORT,
            "rcpt_to": rcpt,
            "subject": subject,
            "raw": raw_mail(("Bench Shop support", SUPPORT), rcpt, subject, message_id, plan.created, body),
            "is_automatic": 1,
            "caused_by_message_id": firsts[plan.id],
            "status": status,
            "attempts": 1 if status == "sent" else 3,
            "next_attempt_at": stamp(next_at),
            "last_attempt_at": stamp(plan.created),
            "last_error": error,
            "created_at": stamp(plan.created),
            "sent_at": stamp(plan.created + timedelta(seconds=2)) if status == "sent" else None,
        }


def insert(connection: sqlite3.Connection, table: str, rows: Iterable[dict]) -> int:
    """Bulk-insert rows (all with the keys of the first); stop loudly when the schema lacks or wants a column."""
    rows = iter(rows)
    first = next(rows)
    known = {row[1]: row for row in connection.execute(f'PRAGMA table_info("{table}")')}
    missing = sorted(set(first) - set(known))
    required = sorted(n for n, r in known.items() if r[3] and r[4] is None and not r[5] and n not in first)
    if missing or required:
        sys.exit(f"bench: table {table}: columns {missing} missing from the schema, {required} required but unfilled")
    columns = ", ".join(f'"{c}"' for c in first)
    values = ", ".join(f":{c}" for c in first)
    statement = f'INSERT INTO "{table}" ({columns}) VALUES ({values})'
    return connection.executemany(statement, itertools.chain([first], rows)).rowcount


def people_rows(customers: int, at: str) -> dict[str, list[dict]]:
    """Contacts, agents and customers."""
    contact = {"save_messages": 1, "created_at": at, "description": "", "accept_attachments": 1}
    return {
        "contact": [
            {"id": 1, "name": "Customer service", "email": SUPPORT, "send_survey": 1, **contact},
            {"id": 2, "name": "Webmaster", "email": WEBMASTER, "send_survey": 0, **contact},
        ],
        "agent": [
            {"id": i, "name": name, "email": email, "active": 1, "created_at": at}
            for i, (name, email) in enumerate(AGENTS, 1)
        ],
        "agentcontact": [{"agent_id": a, "contact_id": c} for a, c in [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (1, 2)]],
        "customer": [
            {
                "id": c,
                "email": f"customer{c}@example.org",
                "name": PEOPLE[c % len(PEOPLE)][0],
                "locale": LOCALES[c % len(PEOPLE)],
                "created_at": at,
            }
            for c in range(1, customers + 1)
        ],
    }


def attachment_rows(rng: random.Random, messages: int) -> Iterable[dict]:
    """A PDF of 2-8 KB on about 3% of the messages."""
    for message in range(1, messages + 1, 31):
        content = rng.randbytes(rng.randint(2048, 8192))
        yield {
            "message_id": message,
            "filename": "invoice.pdf",
            "content_type": "application/pdf",
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "content": content,
        }


def rating_rows(rng: random.Random, plans: list[TicketPlan], lasts: dict, now: datetime) -> Iterable[dict]:
    """A survey answer on one in ten closed tickets with a reply, carried by the customer's last mail."""
    for plan in plans:
        if plan.status == "closed" and plan.messages >= 3 and plan.id % 10 == 0:
            yield {
                "ticket_id": plan.id,
                "message_id": lasts[plan.id],
                "score": rng.choices(range(1, 6), (5, 5, 10, 30, 50))[0],
                "comment": "",
                "source": "link",
                "contact_id": plan.contact,
                "agent_id": plan.agent,
                "created_at": stamp(sent_at(plan, plan.messages - 1, now)),
            }


def fill_store(path: Path, messages: int, seed: int, now: datetime) -> tuple[dict[str, int], tuple[str, int]]:
    """Insert the store's rows into the migrated database at path; the row counts, and the ticket to show with
    its number of messages."""
    rng = random.Random(seed)
    plans = plan_tickets(rng, messages, now)
    firsts: dict[int, int] = {}
    lasts: dict[int, int] = {}
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    counts = {}
    people = people_rows(max(p.customer for p in plans), stamp(now - timedelta(days=400)))
    for table, rows in people.items():
        counts[table] = insert(connection, table, rows)
    counts["ticket"] = insert(connection, "ticket", (ticket_row(p, now) for p in plans))
    counts["message"] = insert(connection, "message", message_rows(rng, plans, now, firsts, lasts))
    counts["ticketevent"] = insert(connection, "ticketevent", event_rows(plans))
    counts["outboxmail"] = insert(connection, "outboxmail", outbox_rows(plans, firsts, now))
    counts["attachment"] = insert(connection, "attachment", attachment_rows(rng, messages))
    counts["rating"] = insert(connection, "rating", rating_rows(rng, plans, lasts, now))
    connection.commit()
    connection.close()
    # The ticket an agent would open: the newest open one with an exchange of mail.
    shown = next((p for p in reversed(plans) if p.status == "open" and p.messages >= 4), plans[-1])
    return counts, (shown.number, shown.messages)


def side_env(tree: Path, config: Path, imap_password: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("MAILBRIDGE_")}
    return {
        **env,
        "PYTHONPATH": str(tree),
        "MAILBRIDGE_CONFIG": str(config),
        "BENCH_IMAP_PASSWORD": imap_password,
        "BENCH_SECRET": "bench-secret-for-reply-tokens",
    }


def run_python(side: Side, code: str, *args: str) -> str:
    """Run a snippet with the side's interpreter path and environment; stop loudly when it fails."""
    done = subprocess.run(
        [str(PYTHON), "-c", code, *args], env=side.env, cwd=side.config.parent, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"bench: {side.label}: python -c {code!r} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip()


def check_import_path(side: Side) -> None:
    """The side must run its own tree: PYTHONPATH has to win over the venv's editable install."""
    found = Path(run_python(side, "import mailbridge; print(mailbridge.__file__)")).resolve()
    if not found.is_relative_to(side.tree.resolve()):
        sys.exit(f"bench: {side.label}: `import mailbridge` resolves to {found}, not into {side.tree}")


def upgrade(side: Side) -> None:
    """Create or upgrade the side's database with the side's own migrations."""
    code = "import sys; from mailbridge.store import db; db.upgrade_schema(db.make_engine(sys.argv[1]))"
    run_python(side, code, f"sqlite:///{side.database}")


def config_text(database: Path, dovecot, smtp_port: int) -> str:
    return f"""
[database]
url = "sqlite:///{database}"

[support]
from_name = "Bench Shop support"
from_address = "{SUPPORT}"
secret_env = "BENCH_SECRET"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
timeout_seconds = 5

[[mailboxes]]
name = "support"
host = "127.0.0.1"
port = {dovecot.imaps_port}
security = "ssl"
ca_file = "{dovecot.ca_file}"
username = "{SUPPORT}"
password_env = "BENCH_IMAP_PASSWORD"
folder = "INBOX"
timeout_seconds = 5
"""


def run_cli(side: Side, args: list[str]) -> tuple[float, str]:
    """Run `mailbridge ARGS` once as a fresh process; its wall time and stdout. A failure stops the benchmark."""
    command = [str(REPO / ".venv" / "bin" / "mailbridge"), *args]
    started = time.perf_counter()
    done = subprocess.run(command, env=side.env, cwd=side.config.parent, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not done.stdout.strip():
        sys.exit(
            f"bench: {side.label}: `mailbridge {' '.join(args)}` exited {done.returncode}:\n"
            f"{done.stderr[-3000:]}{done.stdout[-1000:]}"
        )
    return seconds, done.stdout


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown CPU",
    )
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, Python {sys.version.split()[0]}"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def prepare_sides(base: Path, tree: Path, args, dovecot, smtp_port: int) -> tuple[list[Side], dict, tuple[str, int]]:
    """Both sides with their databases: the base's schema filled once, copied, and the copy upgraded for this tree."""
    sides = []
    for label, source in (("base", tree), ("new", REPO)):
        config = base / label / "mailbridge.toml"
        config.parent.mkdir()
        side = Side(label, source, base / label / "mailbridge.db", config)
        config.write_text(config_text(side.database, dovecot, smtp_port), encoding="utf-8")
        side.env = side_env(source, config, dovecot.password)
        check_import_path(side)
        sides.append(side)
    started = time.perf_counter()
    upgrade(sides[0])
    counts, shown = fill_store(sides[0].database, args.messages, args.seed, datetime.now(UTC))
    shutil.copyfile(sides[0].database, sides[1].database)
    upgrade(sides[1])
    megabytes = sides[0].database.stat().st_size / 2**20
    print(
        f"store: {', '.join(f'{n} {t}' for t, n in counts.items())}; {megabytes:.0f} MB, "
        f"built in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return sides, counts, shown


def measure(sides: list[Side], runs: int, number: str) -> None:
    """Time every command `runs` times per side, A and B in turn, the side going first alternating by round.

    One untimed run of every command per side comes first: it writes the base's .pyc files, fills the page cache
    and makes `run --once`'s first sync of the mailbox.
    """
    commands = [(name, [a.format(number=number) for a in argv]) for name, argv, _ in COMMANDS]
    for side in sides:
        for _, argv in commands:
            run_cli(side, argv)
    for round_ in range(runs):
        order = sides if round_ % 2 == 0 else sides[::-1]
        for name, argv in commands:
            for side in order:
                seconds, _ = run_cli(side, argv)
                side.seconds.setdefault(name, []).append(seconds)
        print(f"round {round_ + 1}/{runs} done, load average {load_average()}", file=sys.stderr)


def print_report(sides: list[Side], runs: int, header: list[str]) -> None:
    base, new = sides
    print("\n".join(header))
    print(f"\n{'command':<14} {'base median':>12} {'new median':>11} {'ratio':>6}  target")
    for name, _, target in COMMANDS:
        a, b = statistics.median(base.seconds[name]), statistics.median(new.seconds[name])
        verdict = "OK" if b < target else "MISSED"
        print(f"{name:<14} {a:>10.3f} s {b:>9.3f} s {b / a:>5.2f}x  < {target:g} s {verdict}")
    print(f"\nmedian of {runs} runs per command and side, wall clock of a fresh process; ratio = new / base")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="781b686", help="git ref of the base CLI (default 781b686)")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command and side (default 15)")
    parser.add_argument("--messages", type=int, default=100_000, help="messages in the store (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generated store")
    args = parser.parse_args()
    from tests.servers.dovecot import start_dovecot
    from tests.servers.smtp_sink import start_smtp_sink

    load_before, probe_before = load_average(), cpu_probe()
    base_commit = git("rev-parse", "--verify", args.base + "^{commit}")
    dirty = " with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    header = [
        f"base: {textwrap.shorten(git('log', '-1', '--format=%h %s', base_commit), 110)} (PYTHONPATH=<its worktree>)",
        f"new:  this working tree, HEAD {git('rev-parse', '--short', 'HEAD')}{dirty}",
    ]
    with tempfile.TemporaryDirectory(prefix="mailbridge-bench-cli-") as tmp, contextlib.ExitStack() as stack:
        base = Path(tmp)
        os.chmod(base, 0o755)
        tree = base / "base-tree"
        git("worktree", "add", "--detach", str(tree), base_commit)
        stack.callback(git, "worktree", "remove", "--force", str(tree))
        dovecot = start_dovecot(base / "dovecot")
        stack.callback(dovecot.stop)
        sink = start_smtp_sink()
        stack.callback(sink.stop)
        dovecot.add_user(SUPPORT)  # an idle mailbox: the user's INBOX stays empty
        sides, counts, (number, shown_messages) = prepare_sides(base, tree, args, dovecot, sink.port)
        measure(sides, args.runs, number)
        megabytes = sides[0].database.stat().st_size / 2**20
    header += [
        f"store: SQLite, {counts['message']} messages, {counts['ticket']} tickets, {counts['customer']} customers, "
        f"{counts['outboxmail']} outbox rows, {megabytes:.0f} MB (each side its own copy); "
        f"`tickets show {number}` shows a ticket of {shown_messages} messages",
        f"machine: {machine()}",
        f"load average (1, 5, 15 min): {load_before} at start, {load_average()} at end",
        f"CPU probe (bench/ingest.py's fixed loop): {probe_before:.2f} s at start, {cpu_probe():.2f} s at end",
    ]
    print_report(sides, args.runs, header)


if __name__ == "__main__":
    main()
