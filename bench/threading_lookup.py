"""Benchmark: the cost of threading one new message at 10,000 and at 1,000,000 stored messages (SQLite).

Bulk-inserts messages, customers and tickets straight into a migrated schema, then times
`tickets.gather_thread_evidence` + `ticket_match.match_ticket` (every rule's lookup: token, a copy with the same
Message-ID, In-Reply-To, References, subject number with participants, body reference line, stored replies naming
the message, a shared reference to a parent never seen, customer + Contact + subject)
for a mix of new messages, and prints the median per message at both sizes. Fails when the
large store costs more than twice the small one, which would mean a lookup is not indexed.

    /tmp/venv/bin/python bench/threading_lookup.py [--small 10000] [--large 1000000] [--trials 300]
"""

from __future__ import annotations

import os
import sys

# This file shares its name with the standard library's `threading`: keep its folder off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlmodel import Session  # noqa: E402

from mailbridge.base.config.settings import Secret  # noqa: E402
from mailbridge.decisions.inbound.parse import ParsedMessage  # noqa: E402
from mailbridge.decisions.matching.reply_tokens import make_token, reply_address  # noqa: E402
from mailbridge.decisions.matching.ticket_match import match_ticket  # noqa: E402
from mailbridge.decisions.matching.ticket_numbers import damm_digit, subject_number_pattern  # noqa: E402
from mailbridge.store import db, tickets  # noqa: E402

MESSAGES_PER_TICKET = 5
TICKETS_PER_CUSTOMER = 2
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECRET = Secret("bench-secret", "env:BENCH")
PATTERN = subject_number_pattern("[#{number}] {subject}")
SUPPORT = frozenset({"support@bench.example"})
CASES = 10  # the rules new_message exercises, the last a stranger's new ticket


def number_of(ticket_id: int) -> str:
    body = str(10**9 + ticket_id)
    return body + damm_digit(body)


def ticket_of(message: int) -> int:
    return (message - 1) // MESSAGES_PER_TICKET + 1


def customer_of(ticket: int) -> int:
    return (ticket - 1) // TICKETS_PER_CUSTOMER + 1


def fill(connection, start: int, stop: int) -> None:
    """Insert messages start+1..stop with their tickets and customers, in bulk."""
    stamp = NOW.isoformat(sep=" ")
    ticket_ids = range(ticket_of(start + 1), ticket_of(stop) + 1)
    connection.executemany(
        "INSERT OR IGNORE INTO customer (id, email, name, created_at) VALUES (?, ?, ?, ?)",
        (
            (c, f"customer{c}@example.org", f"Customer {c}", stamp)
            for c in range(customer_of(ticket_ids[0]), customer_of(ticket_ids[-1]) + 1)
        ),
    )
    connection.executemany(
        "INSERT OR IGNORE INTO ticket (id, number, status, subject, contact_id, customer_id, created_at, updated_at, "
        "subject_key) VALUES (?, ?, 'open', ?, 1, ?, ?, ?, ?)",
        (
            (t, number_of(t), f"Order {t} not arrived", customer_of(t), stamp, stamp, f"order {t} not arrived")
            for t in ticket_ids
        ),
    )
    connection.executemany(
        'INSERT INTO message (id, ticket_id, direction, message_id, "references", from_addr, from_name, to_addrs, '
        "cc_addrs, subject, text_body, html_body, raw, raw_sha256, kind, is_malformed, defects, stored_at) "
        "VALUES (?, ?, 'in', ?, '', ?, '', 'support@bench.example', '', ?, 'Hello', '', x'', ?, 'customer', 0, '', ?)",
        (
            (
                m,
                ticket_of(m),
                f"<m{m}@example.org>",
                f"customer{customer_of(ticket_of(m))}@example.org",
                f"Order {ticket_of(m)} not arrived",
                f"{m:064x}",
                stamp,
            )
            for m in range(start + 1, stop + 1)
        ),
    )
    # Every message names its ticket's first mail, never stored (the parent of a thread that began elsewhere),
    # and the message before it on the ticket, as intake's `messagereference` rows.
    connection.executemany(
        "INSERT INTO messagereference (referenced_id, message_row_id) VALUES (?, ?)",
        (
            (referenced, m)
            for m in range(start + 1, stop + 1)
            for referenced in (
                (f"<root{ticket_of(m)}@example.org>",)
                + ((f"<m{m - 1}@example.org>",) if ticket_of(m - 1) == ticket_of(m) else ())
            )
        ),
    )
    connection.commit()


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
        references = (f"<m{ticket * MESSAGES_PER_TICKET - 2}@example.org>", "<unknown@example.org>")
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


def time_threading(engine, stored: int, trials: int) -> float:
    """Median seconds to gather evidence for and match one new message."""
    rng = random.Random(stored)
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
            durations.append(time.perf_counter() - started)
            assert (match.ticket_id is None) == (trial % CASES == CASES - 1), (trial % CASES, match)
    return statistics.median(durations)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=700)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{tmp}/bench.db")
        db.upgrade_schema(engine)
        raw = engine.raw_connection()
        raw.execute(
            "INSERT INTO contact (id, name, email, save_messages, created_at) "
            "VALUES (1, 'Customer service', 'support@bench.example', 1, '2026-01-01')"
        )
        figures = {}
        stored = 0
        for size in (args.small, args.large):
            started = time.perf_counter()
            for chunk in range(stored, size, 100_000):
                fill(raw, chunk, min(chunk + 100_000, size))
            raw.execute("ANALYZE")
            print(f"stored {size:>9,} messages ({size - stored:,} inserted in {time.perf_counter() - started:.1f} s)")
            stored = size
            figures[size] = time_threading(engine, size, args.trials)
            print(f"  threading one new message: median {figures[size] * 1000:.3f} ms over {args.trials} messages")
        raw.close()
    ratio = figures[args.large] / figures[args.small]
    print(f"ratio {args.large:,} / {args.small:,}: {ratio:.2f}x (limit 2x)")
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
