"""Benchmark: the daemon under a steady trickle of customer mail, sampled over time (issues 18 and 21).

Starts a throwaway Dovecot (IMAPS) and the SMTP sink, then `mailbridge run` (the daemon, IDLE on, SQLite or the
database of --db-url) as a child process, and appends `--rate` customer mails a second into the INBOX for
`--minutes`. Every `--sample-seconds` it prints the daemon's RSS and open descriptors, the messages stored and the
receipts accepted by the sink so far, the outbox backlog (unsent mails, the oldest one's age) and the append-to-stored
latency of the mails stored in that window (median, p95, max: the Message-ID of each appended mail is matched to its
row's `stored_at`). After the trickle it waits up to `--drain-seconds` for the outbox to empty, and prints the
first and last third of the samples side by side, so flat (or growing) RSS, descriptors and latency show at a glance.
A figure printer, not a timed test: the machine is shared and noisy, and it prints its load average.

    ./dev.sh bench soak [--minutes 30] [--rate 5] [--sample-seconds 30] [--drain-seconds 180]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.cli import SUPPORT, config_text, load_average, machine  # noqa: E402

MAILBRIDGE = REPO / ".venv" / "bin" / "mailbridge"


def customer_mail(n: int, started: float) -> bytes:
    when = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    return (
        f"From: Customer {n} <customer{n}@example.org>\r\nTo: {SUPPORT}\r\nSubject: Order {10000 + n} has not arrived\r\n"
        f"Date: {when}\r\nMessage-ID: <soak-{n}-{int(started)}@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello, my order {10000 + n} has not arrived yet. Could you check where it is?\r\n\r\nCustomer {n}\r\n"
    ).encode()


def process_figures(pid: int) -> tuple[float, int]:
    """RSS in MB and open file descriptors of a process (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def store_figures(
    database: Path, appended: dict[str, float], seen: set[str], now: float
) -> tuple[int, int, float, list]:
    """Messages stored, unsent outbox mails, the oldest unsent one's age (s), and the new latencies (s)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        stored = connection.execute("SELECT count(*) FROM message WHERE direction = 'in'").fetchone()[0]
        unsent, oldest = connection.execute(
            "SELECT count(*), min(created_at) FROM outboxmail WHERE status IN ('queued', 'sending')"
        ).fetchone()
        latencies = []
        for message_id, stored_at in connection.execute(
            "SELECT message_id, stored_at FROM message WHERE message_id LIKE '<soak-%'"
        ):
            if message_id in seen or message_id not in appended:
                continue
            seen.add(message_id)
            at = datetime.fromisoformat(stored_at).replace(tzinfo=UTC).timestamp()
            latencies.append(at - appended[message_id])
    finally:
        connection.close()
    age = now - datetime.fromisoformat(oldest).replace(tzinfo=UTC).timestamp() if oldest else 0.0
    return stored, unsent, age, latencies


def feed(dovecot, rate: float, seconds: float, appended: dict[str, float], stop: threading.Event) -> None:
    """Append `rate` mails a second for `seconds`, recording each one's append time by Message-ID."""
    started, n = time.time(), 0
    client = dovecot.client(SUPPORT)
    try:
        while not stop.is_set() and time.time() - started < seconds:
            due = started + n / rate
            if due > time.time():
                time.sleep(due - time.time())
            raw = customer_mail(n, started)
            client.append("INBOX", raw)
            appended[f"<soak-{n}-{int(started)}@example.org>"] = time.time()
            n += 1
    finally:
        client.logout()


def summary(rows: list[dict]) -> list[str]:
    """The first and last third of the samples: RSS, descriptors and latency, side by side."""
    if len(rows) < 3:
        return ["too few samples for a first/last comparison"]
    third = len(rows) // 3
    lines = []
    for name, key in (("RSS MB", "rss"), ("open fds", "fds"), ("latency p95 s", "p95")):
        first = [r[key] for r in rows[:third] if r[key] is not None]
        last = [r[key] for r in rows[-third:] if r[key] is not None]
        if first and last:
            lines.append(
                f"{name:<14} first third median {statistics.median(first):8.2f}, last third {statistics.median(last):8.2f}"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30, help="how long the trickle lasts (default 30)")
    parser.add_argument("--rate", type=float, default=5, help="mails appended per second (default 5)")
    parser.add_argument("--sample-seconds", type=float, default=30, help="sampling period (default 30)")
    parser.add_argument("--drain-seconds", type=float, default=180, help="wait for the outbox after (default 180)")
    args = parser.parse_args()
    from tests.servers.dovecot import start_dovecot
    from tests.servers.smtp_sink import start_smtp_sink

    print(f"machine: {machine()}; load average at start {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mailbridge-bench-soak-") as tmp, contextlib.ExitStack() as stack:
        base = Path(tmp)
        os.chmod(base, 0o755)
        dovecot = start_dovecot(base / "dovecot")
        stack.callback(dovecot.stop)
        sink = start_smtp_sink()
        stack.callback(sink.stop)
        dovecot.add_user(SUPPORT)
        database = base / "mailbridge.db"
        config = base / "mailbridge.toml"
        text = config_text(database, dovecot, sink.port).replace("timeout_seconds = 5\n", "timeout_seconds = 30\n")
        text += 'initial_sync = "import"\ncontact = "Customer service"\ncreate_contact = true\n'
        config.write_text(text.replace("[smtp]", "[schedule]\npoll_interval_seconds = 30\n\n[smtp]", 1))
        env = {
            **os.environ,
            "MAILBRIDGE_CONFIG": str(config),
            "BENCH_IMAP_PASSWORD": dovecot.password,
            "BENCH_SECRET": "bench-secret-for-reply-tokens",
        }
        log = (base / "daemon.log").open("w")
        daemon = subprocess.Popen([str(MAILBRIDGE), "run"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=base)
        stack.callback(daemon.wait, 30)
        stack.callback(daemon.send_signal, signal.SIGTERM)
        time.sleep(5)  # the schema upgrade and the first (empty) sync
        appended: dict[str, float] = {}
        seen: set[str] = set()
        stop = threading.Event()
        feeder = threading.Thread(target=feed, args=(dovecot, args.rate, args.minutes * 60, appended, stop))
        feeder.start()
        print(
            f"trickle: {args.rate:g} mails/s for {args.minutes:g} min into one IMAPS INBOX, daemon with IDLE, SQLite\n"
            "  time  appended  stored  receipts  unsent  oldest_s   rss_MB  fds  lat_p50  lat_p95  lat_max",
            flush=True,
        )
        rows: list[dict] = []
        started = time.time()
        try:
            while feeder.is_alive() or time.time() - started < args.minutes * 60 + args.drain_seconds:
                time.sleep(args.sample_seconds)
                if daemon.poll() is not None:
                    sys.exit(f"bench: the daemon exited with {daemon.returncode}; see its log")
                rss, fds = process_figures(daemon.pid)
                stored, unsent, oldest, latencies = store_figures(database, appended, seen, time.time())
                lat = sorted(latencies)
                row = {
                    "rss": rss,
                    "fds": fds,
                    "p95": lat[int(0.95 * (len(lat) - 1))] if lat else None,
                }
                rows.append(row) if feeder.is_alive() else None
                print(
                    f"{time.time() - started:6.0f}  {len(appended):8d}  {stored:6d}  {len(sink.messages):8d}  "
                    f"{unsent:6d}  {oldest:8.1f}  {rss:7.1f}  {fds:3d}  "
                    + (
                        f"{statistics.median(lat):7.2f}  {row['p95']:7.2f}  {lat[-1]:7.2f}"
                        if lat
                        else "      -        -        -"
                    ),
                    flush=True,
                )
                if not feeder.is_alive() and unsent == 0 and stored >= len(appended):
                    break
        finally:
            stop.set()
            feeder.join()
        stored, unsent, oldest, _ = store_figures(database, appended, seen, time.time())
        print(
            f"end: {len(appended)} appended, {stored} stored, {len(sink.messages)} receipts accepted, {unsent} unsent"
        )
        for line in summary(rows):
            print(line)
        print(f"load average at end {load_average()}")


if __name__ == "__main__":
    main()
