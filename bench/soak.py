"""Benchmark: the daemon under a steady trickle of customer mail, sampled over time (issues 18 and 21).

Starts a throwaway Dovecot (IMAPS) and the SMTP sink, creates the schema (`mailbridge db upgrade`), then starts
`--daemons` `mailbridge run` processes (IDLE on) as child processes on SQLite, on a throwaway PostgreSQL
(tests/servers/postgres.py, as bench/fleet.py starts it: `--db postgresql`, and always with more than one daemon)
or on the database of `--db-url`, and appends `--rate` customer mails a second for `--minutes`, in turn into the
INBOX of `--mailboxes` Dovecot users (one [[mailboxes]] each, the config of bench/fleet.py). Every
`--sample-seconds` it prints each daemon's RSS (and its parse workers' RSS) and open descriptors, the messages stored
and the receipts accepted by the sink so far, the outbox backlog (unsent mails, the oldest one's age) and the
append-to-stored latency of the mails stored in that window (median, p95, max: the Message-ID of each appended mail
is matched to its row's `stored_at`). After the trickle it waits up to `--drain-seconds` for the outbox to empty,
and prints per daemon the first and last third of the samples side by side and the RSS growth per 1,000 stored
mails in the first and second half of the trickle, so flat, levelling or steadily growing RSS shows at a glance.
A figure printer, not a timed test: the machine is shared and noisy, and it prints its load average.

    ./dev.sh bench soak [--minutes 30] [--rate 5] [--sample-seconds 30] [--drain-seconds 180]
    ./dev.sh bench soak --daemons 3 --mailboxes 3 [--db-url postgresql+psycopg://user@host/db]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.cli import SUPPORT, load_average, machine  # noqa: E402
from bench.fleet import children_of, user  # noqa: E402
from bench.fleet import config_text as fleet_config  # noqa: E402
from bench.ingest import status_mb  # noqa: E402

MAILBRIDGE = REPO / ".venv" / "bin" / "mailbridge"


def customer_mail(n: int, started: float) -> bytes:
    when = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    return (
        f"From: Customer {n} <customer{n}@example.org>\r\nTo: {SUPPORT}\r\nSubject: Order {10000 + n} has not arrived\r\n"
        f"Date: {when}\r\nMessage-ID: <soak-{n}-{int(started)}@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello, my order {10000 + n} has not arrived yet. Could you check where it is?\r\n\r\nCustomer {n}\r\n"
    ).encode()


def process_figures(pid: int) -> tuple[float, float, int]:
    """RSS in MB, its parse workers' RSS in MB, and open file descriptors of a daemon (Linux /proc)."""
    workers = sum(status_mb(child) for child in children_of(pid))
    return status_mb(pid), workers, len(os.listdir(f"/proc/{pid}/fd"))


def epoch(value: str | datetime) -> float:
    """A stored UTC time (SQLite: ISO text; PostgreSQL: a naive datetime) as seconds since the epoch."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC).timestamp()


def store_figures(engine, appended: dict[str, float], seen: set[str], now: float) -> tuple[int, int, float, list]:
    """Messages stored, unsent outbox mails, the oldest unsent one's age (s), and the new latencies (s)."""
    from sqlalchemy import text

    with engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM message WHERE direction = 'in'")).scalar_one()
        unsent, oldest = connection.execute(
            text("SELECT count(*), min(created_at) FROM outboxmail WHERE status IN ('queued', 'sending')")
        ).one()
        rows = connection.execute(text("SELECT message_id, stored_at FROM message WHERE message_id LIKE '<soak-%'"))
        latencies = []
        for message_id, stored_at in rows:
            if message_id in seen or message_id not in appended:
                continue
            seen.add(message_id)
            latencies.append(epoch(stored_at) - appended[message_id])
    return stored, unsent, (now - epoch(oldest) if oldest else 0.0), latencies


def feed(dovecot, users: list[str], rate: float, seconds: float, appended: dict, stop: threading.Event) -> None:
    """Append `rate` mails a second for `seconds`, the users' INBOXes in turn, recording each one's append time by
    Message-ID."""
    started, n = time.time(), 0
    clients = [dovecot.client(name) for name in users]
    try:
        while not stop.is_set() and time.time() - started < seconds:
            due = started + n / rate
            if due > time.time():
                time.sleep(due - time.time())
            clients[n % len(clients)].append("INBOX", customer_mail(n, started))
            appended[f"<soak-{n}-{int(started)}@example.org>"] = time.time()
            n += 1
    finally:
        for client in clients:
            client.logout()


def soak_config(db_url: str, dovecot, sink_port: int, args) -> str:
    """bench/fleet.py's config (one [[mailboxes]] per user), with a reply-token secret, each mailbox's mail filed
    under a contact, and a 30 s timed poll beside IDLE."""
    text = fleet_config(db_url, dovecot, sink_port, args)
    text = text.replace(
        "\n[smtp]", '\nsecret_env = "BENCH_SECRET"\n\n[schedule]\npoll_interval_seconds = 30\n\n[smtp]', 1
    )
    mailbox = 'initial_sync = "import"\n'
    return text.replace(mailbox, mailbox + 'contact = "Customer service"\ncreate_contact = true\n')


def wait_for(engine, query: str, at_least: int, daemons: list[subprocess.Popen], seconds: float) -> None:
    """Wait until `query` counts `at_least` rows (the daemons joined, the mailboxes leased); stop if one exits."""
    from sqlalchemy import text

    deadline = time.time() + seconds
    while time.time() < deadline:
        exited = [d for d in daemons if d.poll() is not None]
        if exited:
            sys.exit(f"bench: daemon {exited[0].pid} exited with {exited[0].returncode}; see its log")
        with engine.connect() as connection:
            if connection.execute(text(query)).scalar_one() >= at_least:
                return
        time.sleep(0.5)
    sys.exit(f"bench: `{query}` counted fewer than {at_least} after {seconds:g} s")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(rows: list[dict], daemons: int) -> list[str]:
    """Per daemon, the first and last third of the samples side by side (RSS, workers' RSS, descriptors), the RSS
    growth per 1,000 mails stored in the first and the second half of the trickle; and the latency p95."""
    if len(rows) < 3:
        return ["too few samples for a first/last comparison"]
    third, half = len(rows) // 3, len(rows) // 2
    first, last = rows[:third], rows[-third:]
    lines = []
    for k in range(daemons):
        for name, key in (("RSS MB", "rss"), ("workers RSS MB", "workers"), ("open fds", "fds")):
            lines.append(
                f"daemon {k + 1} {name:<15} first third median {median([r[key][k] for r in first]):8.2f}, "
                f"last third {median([r[key][k] for r in last]):8.2f}"
            )
        growth = []
        for start, end in ((rows[0], rows[half]), (rows[half], rows[-1])):
            mails = end["stored"] - start["stored"]
            growth.append(1000 * (end["rss"][k] - start["rss"][k]) / mails if mails else float("nan"))
        lines.append(
            f"daemon {k + 1} RSS growth per 1,000 mails stored: first half {growth[0]:+.2f} MB, "
            f"second half {growth[1]:+.2f} MB"
        )
    p95_first = [r["p95"] for r in first if r["p95"] is not None]
    p95_last = [r["p95"] for r in last if r["p95"] is not None]
    lines.append(
        f"latency p95 s           first third median {median(p95_first):8.2f}, last third {median(p95_last):8.2f}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30, help="how long the trickle lasts (default 30)")
    parser.add_argument("--rate", type=float, default=5, help="mails appended per second (default 5)")
    parser.add_argument("--sample-seconds", type=float, default=30, help="sampling period (default 30)")
    parser.add_argument("--drain-seconds", type=float, default=180, help="wait for the outbox after (default 180)")
    parser.add_argument("--daemons", type=int, default=1, help="daemons on the database (default 1; more: PostgreSQL)")
    parser.add_argument("--mailboxes", type=int, default=1, help="Dovecot users fed in turn (default 1)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite", help="a throwaway database")
    parser.add_argument("--db-url", help="an existing database instead (SQLAlchemy URL; its tables are filled)")
    parser.add_argument("--parse-processes", type=int, default=1, help="[ingest] parse_processes (default 1)")
    parser.add_argument("--lease-seconds", type=float, default=60, help="[daemon] lease_seconds (default 60)")
    args = parser.parse_args()
    if args.daemons > 1 and args.db == "sqlite" and not args.db_url:
        print(f"{args.daemons} daemons: one SQLite file takes one daemon, so on a throwaway PostgreSQL")
        args.db = "postgresql"
    from sqlalchemy import create_engine

    from tests.servers.dovecot import start_dovecot
    from tests.servers.postgres import start_postgres
    from tests.servers.smtp_sink import start_smtp_sink

    print(f"machine: {machine()}; load average at start {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mailbridge-bench-soak-") as tmp, contextlib.ExitStack() as stack:
        base = Path(tmp)
        os.chmod(base, 0o755)
        dovecot = start_dovecot(base / "dovecot")
        stack.callback(dovecot.stop)
        sink = start_smtp_sink()
        stack.callback(sink.stop)
        users = [user(k) for k in range(args.mailboxes)]
        for name in users:
            dovecot.add_user(name)
        if args.db_url:
            db_url, database = args.db_url, args.db_url.split("@")[-1]
        elif args.db == "postgresql":
            postgres = start_postgres(base / "postgres")
            stack.callback(postgres.stop)
            db_url, database = postgres.create_database("soak"), "PostgreSQL (tests/servers/postgres.py)"
        else:
            db_url, database = f"sqlite:///{base / 'mailbridge.db'}", "SQLite"
        config = base / "mailbridge.toml"
        config.write_text(soak_config(db_url, dovecot, sink.port, args))
        env = {
            **os.environ,
            "MAILBRIDGE_CONFIG": str(config),
            "BENCH_IMAP_PASSWORD": dovecot.password,
            "BENCH_SECRET": "bench-secret-for-reply-tokens",
        }
        subprocess.run([str(MAILBRIDGE), "db", "upgrade"], env=env, cwd=base, check=True, capture_output=True)
        engine = create_engine(db_url, connect_args={"timeout": 30} if db_url.startswith("sqlite") else {})
        stack.callback(engine.dispose)
        daemons: list[subprocess.Popen] = []
        for k in range(args.daemons):
            log = (base / f"daemon{k + 1}.log").open("w")
            daemon = subprocess.Popen([str(MAILBRIDGE), "run"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=base)
            daemons.append(daemon)
            stack.callback(daemon.wait, 60)
            stack.callback(daemon.send_signal, signal.SIGTERM)
        wait_for(engine, "SELECT count(*) FROM daemon", args.daemons, daemons, 120)
        wait_for(engine, "SELECT count(*) FROM mailboxlease", args.mailboxes, daemons, 120)
        appended: dict[str, float] = {}
        seen: set[str] = set()
        stop = threading.Event()
        feeder = threading.Thread(target=feed, args=(dovecot, users, args.rate, args.minutes * 60, appended, stop))
        feeder.start()
        print(
            f"trickle: {args.rate:g} mails/s for {args.minutes:g} min into {args.mailboxes} IMAPS INBOX(es) in turn, "
            f"{args.daemons} daemon(s) with IDLE, {database}, parse_processes {args.parse_processes}\n"
            "  time  appended  stored  receipts  unsent  oldest_s  lat_p50  lat_p95  lat_max  "
            + "  ".join(f"d{k + 1}: rss_MB+workers fds" for k in range(args.daemons)),
            flush=True,
        )
        rows: list[dict] = []
        started = time.time()
        try:
            while feeder.is_alive() or time.time() - started < args.minutes * 60 + args.drain_seconds:
                time.sleep(args.sample_seconds)
                for daemon in daemons:
                    if daemon.poll() is not None:
                        sys.exit(f"bench: daemon {daemon.pid} exited with {daemon.returncode}; see its log")
                figures = [process_figures(daemon.pid) for daemon in daemons]
                stored, unsent, oldest, latencies = store_figures(engine, appended, seen, time.time())
                lat = sorted(latencies)
                row = {
                    "rss": [f[0] for f in figures],
                    "workers": [f[1] for f in figures],
                    "fds": [f[2] for f in figures],
                    "stored": stored,
                    "p95": lat[int(0.95 * (len(lat) - 1))] if lat else None,
                }
                if feeder.is_alive():
                    rows.append(row)
                print(
                    f"{time.time() - started:6.0f}  {len(appended):8d}  {stored:6d}  {len(sink.messages):8d}  "
                    f"{unsent:6d}  {oldest:8.1f}  "
                    + (
                        f"{statistics.median(lat):7.2f}  {row['p95']:7.2f}  {lat[-1]:7.2f}"
                        if lat
                        else "      -        -        -"
                    )
                    + "".join(f"  {rss:7.1f}+{workers:5.1f} {fds:3d}" for rss, workers, fds in figures),
                    flush=True,
                )
                if not feeder.is_alive() and unsent == 0 and stored >= len(appended):
                    break
        finally:
            stop.set()
            feeder.join()
        stored, unsent, oldest, _ = store_figures(engine, appended, seen, time.time())
        print(
            f"end: {len(appended)} appended, {stored} stored, {len(sink.messages)} receipts accepted, {unsent} unsent"
        )
        for line in summary(rows, args.daemons):
            print(line)
        for k in range(args.daemons):
            text = (base / f"daemon{k + 1}.log").read_text(errors="replace")
            print(
                f"daemon {k + 1} log: {text.count('idle lost')} IDLE connections lost (the mail then waits for the "
                f"reconnect or the 30 s timed poll), {text.count(' ERROR ')} ERROR lines"
            )
            reasons = Counter(line.partition(" error=")[2][:100] for line in text.splitlines() if "idle lost" in line)
            for reason, count in reasons.most_common(5):
                print(f"  {count} x idle lost: {reason}")
        print(f"load average at end {load_average()}")


if __name__ == "__main__":
    main()
