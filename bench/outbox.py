"""Benchmark: N mails in the outbox, delivered by the real code to a local SMTP sink; prints mails/second.

Starts the tests' aiosmtpd sink (tests/servers/smtp_sink.py) on 127.0.0.1 in this process, offering STARTTLS
with a throwaway CA as a submission relay does (`--security plain`: no TLS). A fresh child
process fills the outbox of a new SQLite database with N mails the size of a receipt (text and HTML, about
3 KB; `store.outbox_queue.enqueue`, as intake queues them) and then times their delivery by the real code:
`build_app` and `runtime.jobs.deliver_until_idle` (claim, DKIM pass-through, aiosmtplib, one transaction per
recorded mail), or with `--via daemon` the running daemon (`runtime.daemon.Daemon`, its delivery scheduling
included, no mailboxes) until every mail is sent or `--max-seconds` pass. The sink counts the mails and the
connections it accepted, and checks that no mail arrived twice.

    ./dev.sh bench outbox [--mails 2000] [--connections N] [--via pass|daemon] [--max-seconds 300]
                          [--security starttls|plain]

A/B against another checkout: the child imports mailbridge from PYTHONPATH first, and the report names the
copy that ran (`PYTHONPATH=/tmp/outbox-base ./dev.sh bench outbox`). A version without `[smtp]
max_connections` runs with its own defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import fields
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
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


def build_mail(n: int) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Shop support <{SUPPORT}>"
    mail["To"] = f"Customer {n} <customer{n}@example.org>"
    mail["Subject"] = f"[#{100000 + n}] Order {n} has not arrived"
    mail["Message-ID"] = make_msgid(domain="bench.example")
    mail["Auto-Submitted"] = "auto-replied"
    text = BODY.format(n=100000 + n, quote=QUOTE)
    mail.set_content(text)
    mail.add_alternative(f"<html><body><pre>{text}</pre></body></html>", subtype="html")
    return mail


def config_text(base: Path, sink_port: int, connections: int | None, ca_file: str | None) -> str:
    max_connections = f"max_connections = {connections}\n" if connections is not None else ""
    security = f'security = "starttls"\nca_file = "{ca_file}"' if ca_file else 'security = "plain"'
    return f"""
[database]
url = "sqlite:///{base}/bench.db"

[support]
from_address = "{SUPPORT}"

[smtp]
host = "127.0.0.1"
port = {sink_port}
{security}
timeout_seconds = 30
{max_connections}
[schedule]
outbox_interval_seconds = 10
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


def deliver_child(
    base: Path, sink_port: int, ca_file: str | None, count: int, connections: int | None, via: str, limit: float
) -> None:
    """In a fresh process: fill the outbox, time its delivery, print JSON."""
    import mailbridge
    from mailbridge.base.config.settings import SmtpSettings, load_settings
    from mailbridge.runtime.app import build_app
    from mailbridge.runtime.jobs import deliver_until_idle

    has_key = "max_connections" in {f.name for f in fields(SmtpSettings)}
    if has_key and connections is None:
        connections = next(f.default for f in fields(SmtpSettings) if f.name == "max_connections")
    config = base / "mailbridge.toml"
    config.write_text(config_text(base, sink_port, connections if has_key else None, ca_file), encoding="utf-8")
    logging.basicConfig(filename=str(base / "mailbridge.log"), level=logging.INFO)
    app = build_app(load_settings(config))
    fill_seconds = fill_outbox(app, count)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if via == "daemon":
        asyncio.run(deliver_by_daemon(app, count, limit))
        failed = 0
    else:
        _sent, failed = asyncio.run(deliver_until_idle(app))
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {
        "mailbridge": str(Path(mailbridge.__file__).resolve().parent.parent),
        "max_connections": connections if has_key else None,
        "fill_seconds": fill_seconds,
        "seconds": seconds,
        "sent": sent_count(app),
        "failed": failed,
        "cpu_seconds": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
        "lease_minutes": _lease_minutes(),
        "load_average": os.getloadavg()[0],
    }
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=2000, help="how many mails to queue and send (default 2000)")
    parser.add_argument("--connections", type=int, help="[smtp] max_connections (default: the version's default)")
    parser.add_argument("--via", choices=("pass", "daemon"), default="pass", help="deliver_until_idle or the daemon")
    parser.add_argument("--max-seconds", type=float, default=300, help="--via daemon: stop after this long")
    parser.add_argument(
        "--security", choices=("starttls", "plain"), default="starttls", help="the sink offers STARTTLS (default)"
    )
    parser.add_argument("--deliver-child", help=argparse.SUPPRESS)
    parser.add_argument("--sink-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ca-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.deliver_child:
        # Appended, not prepended: a mailbridge on PYTHONPATH (the A/B base) must win over this checkout's.
        sys.path.append(str(REPO))
        deliver_child(
            Path(args.deliver_child),
            args.sink_port,
            args.ca_file,
            args.mails,
            args.connections,
            args.via,
            args.max_seconds,
        )
        return
    # This checkout's sink (it counts connections), whatever mailbridge the child imports.
    sys.path.insert(0, str(REPO))
    from tests.servers.certs import make_certs
    from tests.servers.smtp_sink import start_smtp_sink

    probe_before = cpu_probe()
    with tempfile.TemporaryDirectory(prefix="mailbridge-bench-outbox-") as tmp:
        certs = make_certs(Path(tmp) / "certs") if args.security == "starttls" else None
        sink = start_smtp_sink(tls=certs)
        try:
            command = [sys.executable, __file__, "--deliver-child", tmp, "--sink-port", str(sink.port)]
            command += ["--ca-file", str(certs.ca_file)] if certs else []
            command += ["--mails", str(args.mails), "--via", args.via, "--max-seconds", str(args.max_seconds)]
            command += ["--connections", str(args.connections)] if args.connections else []
            child = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=os.environ.copy())
            if child.returncode != 0:
                sys.exit(f"delivery failed:\n{child.stderr[-3000:]}")
            report = json.loads(child.stdout.strip().splitlines()[-1])
            received = Counter(str(mail.message["Message-ID"]) for mail in sink.messages)
            print_report(args, report, len(sink.messages), sink.connections, sum(n - 1 for n in received.values()))
        finally:
            sink.stop()
    print(
        f"CPU probe:          {probe_before:.2f} s before, {cpu_probe():.2f} s after (a fixed loop; "
        "compare runs only at similar values)"
    )


def print_report(args, report: dict, received: int, connections: int, duplicates: int) -> None:
    rate = report["sent"] / report["seconds"]
    shown = report["max_connections"] if report["max_connections"] is not None else "n/a (no such key)"
    print(f"mailbridge:         {report['mailbridge']}")
    print(f"mails:              {args.mails} queued in {report['fill_seconds']:.1f} s (SQLite)")
    print(
        f"delivered by:       {'the daemon' if args.via == 'daemon' else 'deliver_until_idle'}, "
        f"max_connections {shown}, {args.security} to the sink"
    )
    print(
        f"sent:               {report['sent']} sent, {report['failed']} failed in {report['seconds']:.1f} s; "
        f"the sink got {received}, {duplicates} twice, over {connections} connections"
    )
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
