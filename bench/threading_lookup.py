"""Benchmark: the cost of threading one new message at 10,000 and at 1,000,000 stored messages (SQLite or PostgreSQL).

For each size it bulk-fills a database migrated by the project's own migrations: customers; tickets, each with its
sent receipt in the outbox; messages and the `messagereference` rows intake writes for them (`executemany` on SQLite,
`COPY` on PostgreSQL, one routine for both; then ANALYZE, on PostgreSQL VACUUM (ANALYZE)). Then it times
`tickets.gather_thread_evidence` + `ticket_match.match_ticket` (every rule's lookup: token, a copy with the same
Message-ID, In-Reply-To, References naming stored mail and our receipt, subject number with participants, body
reference line, stored replies naming the message, a shared reference to a parent never seen, customer + Contact +
subject) for a mix of new messages, the two sizes taking turns (`--rounds`) so that load on a shared machine weighs on
both alike. It prints the median and p95 per message at each size, each rule's median, the ratio of the medians large
/ small and the load average at start and end. Fails when the large store costs more than twice the small one, which
would mean a lookup is not indexed. With --db postgresql both databases live on a throwaway server
(tests/servers/postgres.py), stopped at the end.

    ./dev.sh bench threading [--db sqlite|postgresql] [--small 10000] [--large 1000000] [--trials 700] [--rounds 7]
"""

from __future__ import annotations

import os
import sys

# This file shares its name with the standard library's `threading`: keep its folder off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import itertools  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlmodel import Session  # noqa: E402

from bench.ingest import load_average, machine  # noqa: E402
from mailbridge.base.config.settings import Secret  # noqa: E402
from mailbridge.decisions.inbound.parse import ParsedMessage  # noqa: E402
from mailbridge.decisions.matching.reply_tokens import make_token, reply_address  # noqa: E402
from mailbridge.decisions.matching.ticket_match import match_ticket  # noqa: E402
from mailbridge.decisions.matching.ticket_numbers import damm_digit, subject_number_pattern  # noqa: E402
from mailbridge.store import db, tickets  # noqa: E402
from mailbridge.store.models import Contact  # noqa: E402

MESSAGES_PER_TICKET = 5
TICKETS_PER_CUSTOMER = 2
CHUNK = 100_000  # messages a fill statement writes
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STAMP = NOW.isoformat(sep=" ")  # as text: sqlite3 stores it, PostgreSQL's COPY parses it
SECRET = Secret("bench-secret", "env:BENCH")
PATTERN = subject_number_pattern("[#{number}] {subject}")
SUPPORT = frozenset({"support@bench.example"})
CASES = 10  # the rules new_message exercises, the last a stranger's new ticket
RULES = (
    "token",
    "in-reply-to",
    "references",
    "subject number",
    "body reference",
    "contact + subject",
    "copy (same id)",
    "parent after replies",
    "shared reference",
    "stranger (new)",
)


def number_of(ticket_id: int) -> str:
    body = str(10**9 + ticket_id)
    return body + damm_digit(body)


def ticket_of(message: int) -> int:
    return (message - 1) // MESSAGES_PER_TICKET + 1


def customer_of(ticket: int) -> int:
    return (ticket - 1) // TICKETS_PER_CUSTOMER + 1


def first_ticket(message: int) -> int:
    """The first ticket whose first message comes after message `message` (a ticket is written with that one)."""
    return (message + MESSAGES_PER_TICKET - 1) // MESSAGES_PER_TICKET + 1


def first_customer(ticket: int) -> int:
    """The first customer whose first ticket is ticket `ticket` or a later one."""
    return (ticket + TICKETS_PER_CUSTOMER - 2) // TICKETS_PER_CUSTOMER + 1


def rows(start: int, stop: int) -> Iterator[tuple[str, Iterator[dict[str, object]]]]:
    """The rows of messages start+1..stop, table by table: (table, rows as {column: value}).

    A customer and a ticket are written with their first message, so any split into chunks writes each row once.
    Every value is one that sqlite3 stores as it is and PostgreSQL's COPY parses (a timestamp as text, 0 as false).
    """
    tickets_ = range(first_ticket(start), first_ticket(stop))
    customers = range(first_customer(tickets_.start), first_customer(tickets_.stop))
    yield (
        "customer",
        (
            {"id": c, "email": f"customer{c}@example.org", "name": f"Customer {c}", "created_at": STAMP}
            for c in customers
        ),
    )
    yield (
        "ticket",
        (
            {
                "id": t,
                "number": number_of(t),
                "status": "open",
                "subject": f"Order {t} not arrived",
                "contact_id": 1,
                "customer_id": customer_of(t),
                "created_at": STAMP,
                "updated_at": STAMP,
                "subject_key": f"order {t} not arrived",
            }
            for t in tickets_
        ),
    )
    yield (
        "message",
        (
            {
                "id": m,
                "ticket_id": ticket_of(m),
                "direction": "in",
                "message_id": f"<m{m}@example.org>",
                "references": "",
                "from_addr": f"customer{customer_of(ticket_of(m))}@example.org",
                "from_name": "",
                "to_addrs": "support@bench.example",
                "cc_addrs": "",
                "subject": f"Order {ticket_of(m)} not arrived",
                "text_body": "Hello",
                "html_body": "",
                "raw": b"",
                "raw_sha256": f"{m:064x}",
                "kind": "customer",
                "is_malformed": 0,
                "defects": "",
                "stored_at": STAMP,
            }
            for m in range(start + 1, stop + 1)
        ),
    )
    # Each ticket's receipt, sent: a reply names it (the lookup by Message-ID reads the outbox too).
    yield (
        "outboxmail",
        (
            {
                "id": t,
                "dedupe_key": f"receipt:{t}",
                "ticket_id": t,
                "kind": "receipt",
                "message_id": f"<receipt{t}@bench.example>",
                "mail_from": "support@bench.example",
                "rcpt_to": f"customer{customer_of(t)}@example.org",
                "subject": f"[#{number_of(t)}] Order {t} not arrived",
                "raw": b"",
                "is_automatic": 1,
                "caused_by_message_id": (t - 1) * MESSAGES_PER_TICKET + 1,
                "status": "sent",
                "attempts": 1,
                "next_attempt_at": STAMP,
                "last_error": "",
                "created_at": STAMP,
                "sent_at": STAMP,
            }
            for t in tickets_
        ),
    )
    # Every message names its ticket's first mail, never stored (the parent of a thread that began elsewhere),
    # and the message before it on the ticket, as intake's `messagereference` rows.
    yield (
        "messagereference",
        (
            {"referenced_id": referenced, "message_row_id": m}
            for m in range(start + 1, stop + 1)
            for referenced in (
                (f"<root{ticket_of(m)}@example.org>",)
                + ((f"<m{m - 1}@example.org>",) if ticket_of(m - 1) == ticket_of(m) else ())
            )
        ),
    )


def fill(raw, dialect: str, start: int, stop: int) -> None:
    """Write messages start+1..stop with their tickets, customers, receipts and references in one transaction, CHUNK
    messages a statement: `executemany` on SQLite, `COPY` on PostgreSQL."""
    for chunk in range(start, stop, CHUNK):
        for table, values in rows(chunk, min(chunk + CHUNK, stop)):
            first = next(values, None)
            if first is None:
                continue
            names = ", ".join(f'"{c}"' for c in first)
            tuples = (tuple(row.values()) for row in itertools.chain((first,), values))
            if dialect == "postgresql":
                with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in tuples:
                        copy.write_row(row)
            else:
                raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(first))})", tuples)
    raw.commit()


def analyze(raw, dialect: str) -> None:
    """Fresh planner statistics. PostgreSQL: VACUUM too, as autovacuum would, so that it does not start during the
    timing (it does after a large COPY), and index-only scans see an up-to-date visibility map."""
    if dialect == "postgresql":
        raw.autocommit = True
        raw.execute("VACUUM (ANALYZE)")
        raw.autocommit = False
    else:
        raw.execute("ANALYZE")
        raw.commit()


def new_message(rng: random.Random, stored: int, case: int) -> ParsedMessage:
    """A new message that exercises one rule (or none): cycling through all of them."""
    ticket = rng.randrange(1, stored // MESSAGES_PER_TICKET)
    sender = f"customer{customer_of(ticket)}@example.org"
    to, in_reply_to, references, subject, body = ("support@bench.example",), None, (), "Hello", "Hi"
    message_id = f"<new{rng.random()}@example.org>"
    if case == 0:
        to = (reply_address("support@bench.example", make_token(ticket, SECRET.value)),)
    elif case == 1:
        in_reply_to = f"<m{ticket * MESSAGES_PER_TICKET - 1}@example.org>"
    elif case == 2:
        references = (
            f"<receipt{ticket}@bench.example>",
            f"<m{ticket * MESSAGES_PER_TICKET - 2}@example.org>",
            "<unknown@example.org>",
        )
    elif case == 3:
        subject = f"Re: [#{number_of(ticket)}] Order {ticket} not arrived"
    elif case == 4:
        body = f"Any news?\n> Ticket: [#{number_of(ticket)}]\n"
    elif case == 5:
        subject = f"AW: Order {ticket} not arrived"
    elif case == 6:
        message_id = f"<m{ticket * MESSAGES_PER_TICKET}@example.org>"  # a copy, through a list
        subject = f"[list] Order {ticket}"
    elif case == 7:
        message_id = f"<root{ticket}@example.org>"  # the parent, after its replies
    elif case == 8:
        references = (f"<root{ticket}@example.org>",)  # a reply to a parent never seen
    else:
        sender, subject = f"stranger{rng.randrange(10**9)}@example.net", "Question about sizes"
    return ParsedMessage(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        from_addr=sender,
        from_name="",
        to_addrs=to,
        cc_addrs=(),
        reply_to=(),
        subject=subject,
        date=None,
        text_body=body,
        html_body="",
        attachments=(),
        headers={},
        defects=(),
    )


def time_threading(engine, stored: int, trials: int, rng: random.Random) -> list[tuple[int, float]]:
    """Seconds to gather evidence for and match one new message: (case, seconds) for each of `trials` messages, the
    cases in turn from the first."""
    durations = []
    with Session(engine) as session:
        for trial in range(trials):
            parsed = new_message(rng, stored, trial % CASES)
            started = time.perf_counter()
            evidence = tickets.gather_thread_evidence(
                session=session,
                parsed=parsed,
                pattern=PATTERN,
                now=NOW,
                secret=SECRET,
                support_addresses=SUPPORT,
                contact_id=1,
            )
            match = match_ticket(parsed, evidence)
            durations.append((trial % CASES, time.perf_counter() - started))
            assert (match.ticket_id is None) == (trial % CASES == CASES - 1), (trial % CASES, match)
    return durations


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def report(durations: list[tuple[int, float]]) -> float:
    """Print the median and p95 per message and each rule's median; return the median."""
    seconds = [d for _, d in durations]
    median = statistics.median(seconds)
    print(
        f"  threading one new message: median {median * 1000:.3f} ms, p95 {p95(seconds) * 1000:.3f} ms "
        f"over {len(seconds)} messages"
    )
    by_rule = ", ".join(
        f"{name} {statistics.median(d for c, d in durations if c == case) * 1000:.2f}"
        for case, name in enumerate(RULES)
    )
    print(f"  median per rule (ms): {by_rule}", flush=True)
    return median


def database_urls(dialect: str, sizes: tuple[int, ...], stack: contextlib.ExitStack, tmp: Path) -> dict[int, str]:
    """An empty database for each size: a file in tmp, or a database on a throwaway PostgreSQL server that `stack`
    stops."""
    if dialect == "sqlite":
        return {size: f"sqlite:///{tmp}/bench_{size}.db" for size in sizes}
    from tests.servers.postgres import start_postgres

    os.chmod(tmp, 0o755)  # the server runs as the postgres user
    server = start_postgres(tmp / "postgres")
    stack.callback(server.stop)
    return {size: server.create_database(f"bench_{size}") for size in sizes}


def prepare(url: str, dialect: str, size: int, stack: contextlib.ExitStack):
    """Migrate the database at url with the project's migrations, store `size` messages, analyse; return its engine."""
    engine = db.make_engine(url)
    stack.callback(engine.dispose)
    db.upgrade_schema(engine)
    with Session(engine) as session:
        session.add(Contact(id=1, name="Customer service", email="support@bench.example", created_at=NOW))
        session.commit()
    connection = engine.raw_connection()
    raw = connection.driver_connection  # sqlite3's or psycopg's own connection
    started = time.perf_counter()
    fill(raw, dialect, 0, size)
    filled = time.perf_counter() - started
    analyze(raw, dialect)
    connection.close()
    print(
        f"{dialect}: stored {size:>9,} messages in {filled:.1f} s, analysed in {time.perf_counter() - started - filled:.1f}"
        f" s (load average {load_average()})",
        flush=True,
    )
    return engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=700, help="new messages timed per size (default 700)")
    parser.add_argument("--rounds", type=int, default=7, help="turns the sizes take, each timing trials/rounds (7)")
    args = parser.parse_args()
    sizes = (args.small, args.large)
    per_round = -(-args.trials // args.rounds // CASES) * CASES  # every rule as often in every round
    print(f"machine: {machine()}; load average (1 / 5 / 15 min) at start {load_average()}", flush=True)
    durations: dict[int, list[tuple[int, float]]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory(prefix="mailbridge-bench-threading-") as tmp, contextlib.ExitStack() as stack:
        urls = database_urls(args.db, sizes, stack, Path(tmp))
        engines = {size: prepare(urls[size], args.db, size, stack) for size in sizes}
        # The sizes in turn (small, large, then large, small, ...), so a load that comes and goes on a shared machine
        # weighs on both alike.
        rngs = {size: random.Random(size) for size in sizes}
        for round_ in range(args.rounds):
            for size in sizes if round_ % 2 == 0 else reversed(sizes):
                durations[size] += time_threading(engines[size], size, per_round, rngs[size])
    figures = {}
    for size in sizes:
        print(f"{size:,} stored messages:")
        figures[size] = report(durations[size])
    ratio = figures[args.large] / figures[args.small]
    print(f"ratio {args.large:,} / {args.small:,} (medians): {ratio:.2f}x (limit 2x)")
    print(f"load average (1 / 5 / 15 min) at end {load_average()}")
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
