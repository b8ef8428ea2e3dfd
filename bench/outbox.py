"""Benchmark: N mails in the outbox, delivered by the real code to a local SMTP sink; prints mails/second.

Starts the tests' aiosmtpd sink (tests/servers/smtp_sink.py) on 127.0.0.1 in this process, offering STARTTLS
with a throwaway CA as a submission relay does (`--security plain`: no TLS), and with `--db postgresql` the tests'
throwaway PostgreSQL (tests/servers/postgres.py; else a new SQLite file). A fresh child process fills the outbox
of a new database with N mails the size of a receipt (text and HTML, about 3 KB; `store.outbox_queue.enqueue`,
as intake queues them) and then times their delivery by the real code: `build_app` and
`runtime.jobs.deliver_until_idle` (claim, DKIM pass-through, aiosmtplib, one transaction per recorded mail), or
with `--via daemon` the running daemon (`runtime.daemon.Daemon`, its delivery scheduling included, no mailboxes)
until every mail is sent or `--max-seconds` pass. With `--daemons N` (1-8) the child only fills the outbox and
N real `mailbridge run` processes (no mailboxes) deliver it, all started at once; the time runs from their start
until the sink holds every mail (and from its first mail), and each daemon's share is counted from its log
(`sent outbox_id=` lines). SQLite allows one daemon per file, so N > 1 needs `--db postgresql`.

`--defer-percent P` makes the sink answer `451` at DATA to P% of the mails, chosen by a hash of the Message-ID,
on their first attempt only: the outbox's backoff (`store.outbox_queue.retry_delay`, one minute after a first
failure; no configuration key changes it) sends them on a retry. `--outbox-interval-seconds` is `[schedule]
outbox_interval_seconds`, how long an idle daemon waits before it looks for due mail again. The sink counts the
mails, the 451s and the connections, and checks that no mail arrived twice; the rows must all end `sent`.

    ./dev.sh bench outbox [--mails 2000] [--connections N] [--via pass|daemon] [--max-seconds 600]
                          [--security starttls|plain] [--db sqlite|postgresql]
    ./dev.sh bench outbox --daemons 1|2|4 [--db postgresql] [--defer-percent 10] [--outbox-interval-seconds 10]

A/B against another checkout: the child imports mailbridge from PYTHONPATH first, and the report names the
copy that ran (`PYTHONPATH=/tmp/outbox-base ./dev.sh bench outbox`). A version without `[smtp]
max_connections` runs with its own defaults. Without PYTHONPATH, the child and the daemons import a copy of this
tree's mailbridge/ taken at the start (as bench/fleet.py does), so edits made meanwhile change no run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SUPPORT = "support@bench.example"
TARGET_RATE = 50.0
BODY = (
    "Hello,\n\nthank you for your message. We have opened ticket #{n} for it and will answer within one "
    "business day. Please keep the ticket number in the subject when you write again.\n\n"
    "Your message:\n> {quote}\n\nKind regards,\nShop support\n"
)
QUOTE = "My order has not arrived yet. Could you check the tracking number, please? " * 6
SAMPLE_SECONDS = 0.1
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def build_mail(n: int) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Shop support <{SUPPORT}>"
    mail["To"] = f"Customer {n} <customer{n}@example.org>"
    mail["Subject"] = f"[#{100000 + n}] Order {n} has not arrived"
    # Fixed per mail, so `--defer-percent` defers the same mails in every run.
    mail["Message-ID"] = f"<outbox-bench.{n}@bench.example>"
    mail["Auto-Submitted"] = "auto-replied"
    text = BODY.format(n=100000 + n, quote=QUOTE)
    mail.set_content(text)
    mail.add_alternative(f"<html><body><pre>{text}</pre></body></html>", subtype="html")
    return mail


def config_text(db_url: str, sink_port: int, connections: int | None, ca_file: str | None, interval: float) -> str:
    max_connections = f"max_connections = {connections}\n" if connections is not None else ""
    security = f'security = "starttls"\nca_file = "{ca_file}"' if ca_file else 'security = "plain"'
    return f"""
[database]
url = "{db_url}"

[support]
from_address = "{SUPPORT}"

[smtp]
host = "127.0.0.1"
port = {sink_port}
{security}
timeout_seconds = 30
{max_connections}
[schedule]
outbox_interval_seconds = {interval:g}
"""


def fill_outbox(app, count: int) -> float:
    """Queue `count` mails, due now, in transactions of 500; return the seconds it took."""
    from mailbridge.decisions.kinds import MailKind
    from mailbridge.store import db, outbox_queue

    # Versions that sign at enqueue (DKIM; nothing to sign here) take the signer; older ones sign at delivery.
    signing = {"sign": app.mail.sign} if "sign" in inspect.signature(outbox_queue.enqueue).parameters else {}
    started, now = time.perf_counter(), app.clock.now()
    for first in range(0, count, 500):
        with db.transaction(app.engine) as session:
            for n in range(first, min(first + 500, count)):
                outbox_queue.enqueue(
                    session=session,
                    mail=build_mail(n),
                    **signing,
                    dedupe_key=f"bench:{n}",
                    kind=MailKind.RECEIPT,
                    ticket_id=None,
                    now=now,
                )
    return time.perf_counter() - started


def sent_count(app) -> int:
    from sqlalchemy import func
    from sqlmodel import Session, select

    from mailbridge.store.models import OutboxMail

    with Session(app.engine) as session:
        return session.exec(select(func.count()).select_from(OutboxMail).where(OutboxMail.status == "sent")).one()


async def deliver_by_daemon(app, count: int, max_seconds: float) -> None:
    """Run the daemon (no mailboxes: only its delivery) until every mail is sent or max_seconds pass."""
    from mailbridge.runtime.daemon import Daemon

    daemon = Daemon(app)
    running = asyncio.create_task(daemon.run())
    deadline = time.perf_counter() + max_seconds
    while sent_count(app) < count and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    daemon.stop()
    await running


def deliver_child(base: Path, args: argparse.Namespace) -> None:
    """In a fresh process: fill the outbox, time its delivery (unless `--via run`: daemons deliver it), print JSON."""
    import mailbridge
    from mailbridge.base.config.settings import SmtpSettings, load_settings
    from mailbridge.runtime.app import build_app
    from mailbridge.runtime.jobs import deliver_until_idle

    connections = args.connections
    has_key = "max_connections" in {f.name for f in fields(SmtpSettings)}
    if has_key and connections is None:
        connections = next(f.default for f in fields(SmtpSettings) if f.name == "max_connections")
    config = base / "mailbridge.toml"
    text = config_text(
        args.db_url, args.sink_port, connections if has_key else None, args.ca_file, args.outbox_interval_seconds
    )
    config.write_text(text, encoding="utf-8")
    logging.basicConfig(filename=str(base / "mailbridge.log"), level=logging.INFO)
    app = build_app(load_settings(config))
    report = {
        "mailbridge": str(Path(mailbridge.__file__).resolve().parent.parent),
        "max_connections": connections if has_key else None,
        "fill_seconds": fill_outbox(app, args.mails),
        "lease_minutes": _lease_minutes(),
    }
    if args.via != "run":
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        if args.via == "daemon":
            asyncio.run(deliver_by_daemon(app, args.mails, args.max_seconds))
            failed = 0
        else:
            _sent, failed = asyncio.run(deliver_until_idle(app))
        seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        report |= {
            "seconds": seconds,
            "sent": sent_count(app),
            "failed": failed,
            "cpu_seconds": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
            "load_average": os.getloadavg()[0],
        }
    app.engine.dispose()
    print(json.dumps(report))


def _lease_minutes() -> float:
    from mailbridge.store import outbox_queue

    lease: timedelta = outbox_queue.SENDING_LEASE
    return lease.total_seconds() / 60


def cpu_probe() -> float:
    """Seconds for a fixed pure-Python loop: how fast this machine is right now (shared hosts vary a lot)."""
    started = time.process_time()
    total = 0
    for n in range(10_000_000):
        total += n
    return time.process_time() - started


class Deferral:
    """The sink's screen: 451 to `percent`% of the mails (by a hash of the Message-ID), on their first attempt only."""

    def __init__(self, percent: float):
        self.percent = percent
        self.deferred: set[bytes] = set()
        self.retried = 0  # deferred mails offered again (and accepted: the screen refuses each mail once)

    def __call__(self, mail) -> str | None:
        message_id = message_id_of(mail.data)
        if message_id in self.deferred:
            self.retried += 1
            return None
        if not is_deferred(message_id, self.percent):
            return None
        self.deferred.add(message_id)
        return "451 4.3.0 Deferred by the benchmark, try again later"


def is_deferred(message_id: bytes, percent: float) -> bool:
    """Whether a mail is among the `percent`% to defer: the same answer for a Message-ID in every run."""
    return int.from_bytes(hashlib.sha256(message_id).digest()[:8], "big") % 10_000 < percent * 100


def message_id_of(data: bytes) -> bytes:
    found = MESSAGE_ID.search(data)
    return found.group(1) if found else b""


@dataclass
class DaemonRun:
    """What `--daemons N` measured."""

    seconds: float = 0.0  # from starting the processes until the sink held every mail
    from_first: float = 0.0  # from the sink's first mail until it held every mail
    offered: float = 0.0  # from starting the processes until every mail had had its first attempt
    sent_by: dict[int, Counter] = field(default_factory=dict)  # pid -> "sent", "failed" (from its log)
    cpu: dict[int, float] = field(default_factory=dict)  # pid -> CPU seconds until the sink held every mail
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # status -> (rows, attempts)
    sink_cpu: float = 0.0  # this process: the sink's thread and the sampling
    load_end: str = ""


def run_daemons(args, base: Path, sink, deferral: Deferral | None, env: dict[str, str]) -> DaemonRun:
    """Start `args.daemons` `mailbridge run` processes on the filled outbox; wait until the sink holds every mail."""
    from bench.fleet import daemons_cpu, stop_processes
    from bench.ingest import load_average

    command = [sys.executable, "-m", "mailbridge", "--config", str(base / "mailbridge.toml"), "run"]
    logs = [base / f"daemon{n}.log" for n in range(args.daemons)]
    result, before = DaemonRun(), resource.getrusage(resource.RUSAGE_SELF)
    started, first_at = time.monotonic(), None
    processes = [
        subprocess.Popen(command, env=env, cwd=base, stdout=log.open("wb"), stderr=subprocess.STDOUT) for log in logs
    ]
    try:
        while True:
            time.sleep(SAMPLE_SECONDS)
            for process, log in zip(processes, logs, strict=True):
                if process.poll() is not None:
                    sys.exit(f"bench: daemon {process.pid} exited {process.returncode}:\n{log.read_text()[-3000:]}")
            now, received = time.monotonic(), len(sink.messages)
            first_at = first_at or (now if received else None)
            retried = deferral.retried if deferral else 0
            if not result.offered and received + sink.screened - retried >= args.mails:
                result.offered = now - started
            if received >= args.mails:
                result.cpu.update(daemons_cpu(processes))
                result.seconds, result.from_first = now - started, now - (first_at or started)
                break
            if now - started > args.max_seconds:
                sys.exit(f"bench: the sink got {received} of {args.mails} mails in {args.max_seconds:g} s")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result.sink_cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
        result.rows = outbox_rows(args.db_url, args.mails)
        result.load_end = load_average()
    finally:
        stop_processes(processes)
    for process, log in zip(processes, logs, strict=True):
        lines = log.read_text(errors="replace")
        result.sent_by[process.pid] = Counter(
            {"sent": lines.count(" sent outbox_id="), "failed": lines.count("send failed outbox_id=")}
        )
    return result


def outbox_rows(db_url: str, mails: int) -> dict[str, tuple[int, int]]:
    """Rows and attempts per status, once every row is `sent` (recorded just after the sink's reply) or 30 s passed."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    deadline = time.monotonic() + 30
    try:
        while True:
            with engine.connect() as connection:
                query = text("SELECT status, count(*), sum(attempts) FROM outboxmail GROUP BY status")
                rows = {status: (count, attempts) for status, count, attempts in connection.execute(query)}
            if rows.get("sent", (0, 0))[0] >= mails or time.monotonic() > deadline:
                return rows
            time.sleep(SAMPLE_SECONDS)
    finally:
        engine.dispose()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=2000, help="how many mails to queue and send (default 2000)")
    parser.add_argument("--connections", type=int, help="[smtp] max_connections (default: the version's default)")
    parser.add_argument(
        "--via",
        choices=("pass", "daemon", "run"),
        help="deliver_until_idle (default), the daemon in-process, or `mailbridge run` processes (with --daemons)",
    )
    parser.add_argument("--daemons", type=int, help="run N `mailbridge run` processes, 1-8 (implies --via run)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite", help="default sqlite")
    parser.add_argument(
        "--defer-percent", type=float, default=0.0, help="the sink answers 451 to this share of first attempts"
    )
    parser.add_argument(
        "--outbox-interval-seconds", type=float, default=10.0, help="[schedule] outbox_interval_seconds (default 10)"
    )
    parser.add_argument("--max-seconds", type=float, default=600, help="daemons: give up after this long")
    parser.add_argument(
        "--security", choices=("starttls", "plain"), default="starttls", help="the sink offers STARTTLS (default)"
    )
    parser.add_argument("--deliver-child", help=argparse.SUPPRESS)
    parser.add_argument("--sink-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ca-file", help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.daemons is not None and args.via not in (None, "run"):
        parser.error("--daemons starts `mailbridge run` processes: leave --via out (or say --via run)")
    args.via = args.via or ("run" if args.daemons is not None else "pass")
    args.daemons = args.daemons or 1
    if args.via == "run" and not 1 <= args.daemons <= 8:
        parser.error(f"--daemons: expected 1-8, got {args.daemons}")
    if args.db == "sqlite" and args.daemons > 1:
        parser.error(
            "--db sqlite: one daemon per SQLite file (a second `mailbridge run` is refused); "
            "use --db postgresql for --daemons 2-8"
        )
    if not 0 <= args.defer_percent <= 100:
        parser.error(f"--defer-percent: expected 0-100, got {args.defer_percent:g}")
    if args.defer_percent and args.via == "pass":
        parser.error(
            "--defer-percent needs a running daemon (--via daemon or --daemons N): a pass ends when nothing is due, "
            "and a deferred mail is due again only after the outbox's backoff"
        )
    return args


def main() -> None:
    args = parse_args()
    if args.deliver_child:
        # Appended, not prepended: a mailbridge on PYTHONPATH (the A/B base) must win over this checkout's.
        sys.path.append(str(REPO))
        deliver_child(Path(args.deliver_child), args)
        return
    # This checkout's sink (it counts connections), whatever mailbridge the child imports.
    sys.path.insert(0, str(REPO))
    from bench.ingest import load_average, machine, prepare_sides, side_env
    from tests.servers.certs import make_certs
    from tests.servers.postgres import start_postgres
    from tests.servers.smtp_sink import start_smtp_sink

    print(f"machine:            {machine()}; load average {load_average()} at start (shared with other engineers)")
    probe_before = cpu_probe()
    with tempfile.TemporaryDirectory(prefix="mailbridge-bench-outbox-") as tmp, contextlib.ExitStack() as stack:
        base = Path(tmp)
        os.chmod(base, 0o755)  # PostgreSQL runs as its own user when we are root
        env = os.environ.copy()
        if "PYTHONPATH" not in env:
            [side], _header = prepare_sides(base, None, stack)
            env = side_env(side, "")
        certs = make_certs(base / "certs") if args.security == "starttls" else None
        sink = start_smtp_sink(tls=certs)
        stack.callback(sink.stop)
        deferral = Deferral(args.defer_percent) if args.defer_percent else None
        sink.screen = deferral
        if args.db == "postgresql":
            postgres = start_postgres(base / "postgres")
            stack.callback(postgres.stop)
            args.db_url = postgres.create_database("outbox_bench")
        else:
            args.db_url = f"sqlite:///{base}/bench.db"
        command = [sys.executable, __file__, "--deliver-child", tmp, "--sink-port", str(sink.port)]
        command += ["--ca-file", str(certs.ca_file)] if certs else []
        command += ["--mails", str(args.mails), "--via", args.via, "--max-seconds", str(args.max_seconds)]
        command += ["--db-url", args.db_url, "--outbox-interval-seconds", str(args.outbox_interval_seconds)]
        command += ["--connections", str(args.connections)] if args.connections else []
        child = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)
        if child.returncode != 0:
            sys.exit(f"delivery failed:\n{child.stderr[-3000:]}")
        report = json.loads(child.stdout.strip().splitlines()[-1])
        run = run_daemons(args, base, sink, deferral, env) if args.via == "run" else None
        received = Counter(message_id_of(mail.data) for mail in sink.messages)
        seen = Seen(len(sink.messages), sink.connections, sum(n - 1 for n in received.values()), sink.screened)
        if run is None:
            print_report(args, report, seen)
        else:
            print_daemons(args, report, seen, run)
    print(
        f"CPU probe:          {probe_before:.2f} s before, {cpu_probe():.2f} s after (a fixed loop; "
        "compare runs only at similar values)"
    )


@dataclass(frozen=True)
class Seen:
    """What the sink saw."""

    received: int
    connections: int
    duplicates: int  # mails accepted more than once
    deferred: int  # 451s answered by the screen


def print_daemons(args, report: dict, seen: Seen, run: DaemonRun) -> None:
    """The report of `--daemons N`, then one summary line."""
    from bench.ingest import load_average

    sent, attempts = run.rows.get("sent", (0, 0))
    every_row_sent = sent == args.mails == sum(rows for rows, _ in run.rows.values())
    print(f"mailbridge:         {report['mailbridge']}")
    print(f"mails:              {args.mails} queued in {report['fill_seconds']:.1f} s ({args.db})")
    print(
        f"delivered by:       {args.daemons} `mailbridge run` {'daemon' if args.daemons == 1 else 'daemons'}, "
        f"max_connections {report['max_connections']} each, {args.security} to the sink, "
        f"outbox_interval_seconds {args.outbox_interval_seconds:g}"
    )
    print(
        f"deferred:           {args.defer_percent:g}% by Message-ID: {seen.deferred} answered 451 on the first "
        "attempt (retried after the outbox's fixed backoff: 1 minute after a first failure)"
    )
    print(
        f"sent:               every mail at the sink {run.seconds:.1f} s after the daemons started = "
        f"{args.mails / run.seconds:.0f} mails/s; {run.from_first:.1f} s from its first mail = "
        f"{args.mails / run.from_first:.0f} mails/s; every mail's first attempt after {run.offered:.1f} s"
    )
    print(f"sink:               {seen.received} accepted, {seen.duplicates} twice, over {seen.connections} connections")
    status_text = ", ".join(f"{status} {rows} ({tries} attempts)" for status, (rows, tries) in sorted(run.rows.items()))
    print(f"rows:               {status_text}; every row sent: {'yes' if every_row_sent else 'NO'}")
    for pid, counts in run.sent_by.items():
        share = 100 * counts["sent"] / max(sent, 1)
        print(
            f"daemon pid {pid:<7} sent {counts['sent']} ({share:.0f}%), failed attempts {counts['failed']}, "
            f"CPU {run.cpu.get(pid, 0.0):.1f} s"
        )
    daemon_cpu = sum(run.cpu.values())
    print(
        f"CPU:                daemons {daemon_cpu:.1f} s = {1000 * daemon_cpu / args.mails:.2f} ms per mail; this "
        f"process (the sink) {run.sink_cpu:.1f} s{'; PostgreSQL not counted' if args.db == 'postgresql' else ''}"
    )
    print(f"load average:       {load_average()} now, {run.load_end} when the last mail arrived")
    print(
        f"summary: mails={args.mails} daemons={args.daemons} db={args.db} defer%={args.defer_percent:g} "
        f"seconds={run.seconds:.1f} mails/s={args.mails / run.seconds:.0f} 451s={seen.deferred} "
        f"duplicates={seen.duplicates} all_sent={'yes' if every_row_sent else 'NO'} attempts={attempts}"
    )


def print_report(args, report: dict, seen: Seen) -> None:
    rate = report["sent"] / report["seconds"]
    shown = report["max_connections"] if report["max_connections"] is not None else "n/a (no such key)"
    print(f"mailbridge:         {report['mailbridge']}")
    print(f"mails:              {args.mails} queued in {report['fill_seconds']:.1f} s ({args.db})")
    print(
        f"delivered by:       {'the daemon' if args.via == 'daemon' else 'deliver_until_idle'}, "
        f"max_connections {shown}, {args.security} to the sink"
    )
    print(
        f"sent:               {report['sent']} sent, {report['failed']} failed in {report['seconds']:.1f} s; "
        f"the sink got {seen.received}, {seen.duplicates} twice, over {seen.connections} connections"
    )
    if args.defer_percent:
        print(f"deferred:           {args.defer_percent:g}% by Message-ID: {seen.deferred} answered 451")
    print(
        f"rate:               {rate:.0f} mails/s (target >= {TARGET_RATE:.0f}) {'OK' if rate >= TARGET_RATE else 'MISSED'}"
    )
    print(
        f"CPU:                {report['cpu_seconds']:.1f} s, {1000 * report['cpu_seconds'] / max(report['sent'], 1):.2f} ms "
        f"per mail ({100 * report['cpu_seconds'] / report['seconds']:.0f}% of one core)"
    )
    print(f"sending lease:      {report['lease_minutes']:g} minutes")
    print(f"load average:       {report['load_average']:.1f} at the end (other processes share the cores)")


if __name__ == "__main__":
    main()
