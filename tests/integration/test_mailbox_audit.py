"""`mailboxes audit NAME [--fix]` over Dovecot: mail read by another client but never stored, mail lost below the
poll's position, stored mail whose \\Seen was taken off, mail not yet polled; `--fix` stores each once and marks;
the daemon's nightly audit shows in `status` and the metrics."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session, select

from mailbridge.decisions.kinds import MailKind
from mailbridge.runtime.daemon import Daemon
from mailbridge.runtime.fleet import Fleet
from mailbridge.runtime.metrics import PollTally, write_metrics_file
from mailbridge.store.models import Message, OutboxMail, TimerDue
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.servers.util import wait_until

NO_POLLING = "[schedule]\npoll_interval_seconds = 3600\noutbox_interval_seconds = 1\n"


def subjects(app) -> list[str]:
    with Session(app.engine) as session:
        return sorted(m.subject for m in session.exec(select(Message).where(Message.direction == "in")))


def audit(app, clock, *args: str):
    return run_cli("mailboxes", "audit", "support", *args, config=app.settings.path, clock=clock)


def status(app, clock) -> str:
    result = run_cli("status", config=app.settings.path, clock=clock)
    assert result.returncode == 0, result.stderr
    return result.stdout


def seen(dovecot, mailbox) -> dict[int, bool]:
    return {uid: "\\Seen" in flags for uid, flags in dovecot.flags(SUPPORT_USER, mailbox).items()}


def test_audit_names_each_lost_or_unmarked_message_and_fix_stores_each_once(
    make_app, clock, dovecot, mailbox, sink, tmp_path
):
    app = make_app()
    first = [dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject=f"Order {n}")) for n in (1, 2, 3)]
    run_once(app)
    assert subjects(app) == ["Order 1", "Order 2", "Order 3"] and all(seen(dovecot, mailbox).values())
    sink.clear()
    # (b) Another client takes \Seen off a stored message.
    with dovecot.client(SUPPORT_USER) as client:
        client.select_folder(mailbox)
        client.remove_flags([first[0]], ["\\Seen"])
    # (a) A message another client read, and (c) one nobody touched, both below the poll's position (as when the
    # position came from a newer backup than the rows): neither was stored.
    read_elsewhere = dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Read elsewhere"), flags=["\\Seen"])
    lost = dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Lost on the way"))
    with sqlite3.connect(tmp_path / "mailbridge.db") as db:
        db.execute("UPDATE mailboxstate SET last_uid = ?", (lost,))
    # And one that arrived after the last poll.
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Just arrived"))

    result = audit(app, clock)
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "mailbox support: 6 on the server, 3 stored (0 flagged); 1 missing, 1 marked on the server but not stored, "
        "1 stored but not marked, 1 not yet polled"
    )
    assert len(lines) == 4
    assert lines[1].startswith(f"  {mailbox} uid {lost}  2026-01-05 10:00:00 +01:00  anna@example.org  Lost on the way")
    assert lines[1].endswith(": on the server, not stored")
    assert f"uid {read_elsewhere} " in lines[2] and lines[2].endswith(
        "Read elsewhere: marked on the server, not stored"
    )
    assert f"uid {first[0]} " in lines[3] and lines[3].endswith("Order 1: stored, not marked on the server")
    assert subjects(app) == ["Order 1", "Order 2", "Order 3"]  # the audit alone changes nothing
    assert not seen(dovecot, mailbox)[first[0]]
    shown = status(app, clock)
    assert (
        "  audit 2026-01-05 10:00:00 +01:00: 1 missing, 1 marked on the server but not stored, 1 stored but not "
        "marked (mailbridge mailboxes audit NAME lists them, --fix mends)"
    ) in shown
    metrics = tmp_path / "mailbridge.prom"
    write_metrics_file(app, metrics, clock.now(), PollTally())
    text = metrics.read_text()
    assert 'mailbridge_audit_messages{finding="missing",mailbox="support"} 1.0' in text
    assert 'mailbridge_audit_messages{finding="not_yet_polled",mailbox="support"} 1.0' in text

    fixed = audit(app, clock, "--fix")
    assert fixed.returncode == 0, fixed.stderr
    assert "fixed: 3 imported, 1 marked on the server; audited again:" in fixed.stdout
    assert fixed.stdout.splitlines()[-1].endswith(
        "0 missing, 0 marked on the server but not stored, 0 stored but not marked, 0 not yet polled; nothing lost"
    )
    expected = ["Just arrived", "Lost on the way", "Order 1", "Order 2", "Order 3", "Read elsewhere"]
    assert subjects(app) == expected and all(seen(dovecot, mailbox).values())

    again = audit(app, clock, "--fix", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["fixed"]["imported"] == 0 and report["fixed"]["marked"] == 0 and report["problems"] == []
    assert report["counts"]["stored"] == 6
    run_once(app)  # the next poll finds "Just arrived" stored and takes nothing twice
    assert subjects(app) == expected
    # Fresh mail (dated today) was imported as the poll would have: one receipt each, sent once.
    with Session(app.engine) as session:
        receipts = session.exec(select(OutboxMail).where(OutboxMail.kind == MailKind.RECEIPT)).all()
    assert len(receipts) == 6
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["anna@example.org"] * 3
    assert "0 missing; nothing lost (0 not yet polled)" in status(app, clock)


def test_clean_mailbox_exits_0_and_says_0_missing(make_app, clock, dovecot, mailbox):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    result = audit(app, clock)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "mailbox support: 1 on the server, 1 stored (0 flagged); 0 missing, 0 marked on the server but not stored, "
        "0 stored but not marked, 0 not yet polled; nothing lost\n"
    )
    report = json.loads(audit(app, clock, "--json").stdout)
    assert report["counts"]["missing"] == 0 and report["problems"] == [] and report["fixed"] is None


def test_unknown_mailbox_is_one_line_and_exit_1(make_app, clock):
    app = make_app()
    result = run_cli("mailboxes", "audit", "nope", config=app.settings.path, clock=clock)
    assert result.returncode == 1
    assert result.stderr.strip() == "mailbridge: error: no mailbox named 'nope' (configured: support)"


def audit_due(app) -> str | None:
    with Session(app.engine) as session:
        row = session.get(TimerDue, "audit_mailboxes")
        return None if row is None else row.next_due.strftime("%Y-%m-%d %H:%M:%S")


@contextmanager
def running(daemon: Daemon) -> Iterator[None]:
    thread = threading.Thread(target=lambda: asyncio.run(daemon.run()), name="daemon")
    thread.start()
    try:
        yield
    finally:
        daemon.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()


def test_the_daemon_audits_every_mailbox_at_night_and_status_shows_it(make_app, clock, dovecot, mailbox, sink):
    app = make_app(extra=NO_POLLING + "\n[audit]\nhour = 3\n")
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    fleet = Fleet(app.engine, ["support"], app.settings.daemon.lease_seconds, clock=clock)
    daemon = Daemon(app, timer_interval_seconds=1, fleet=fleet)
    with running(daemon):
        assert wait_until(lambda: subjects(app) == ["Order 1234 not arrived"], timeout=10)
        # 10:00 in Rome: the first audit is due at 03:00 tomorrow, and has not run.
        assert wait_until(lambda: audit_due(app) == "2026-01-06 02:00:00", timeout=10), audit_due(app)
        assert "audit" not in status(app, clock)
        clock.advance(hours=17, minutes=1)  # 03:01 in Rome
        assert wait_until(lambda: "job audit_mailboxes: ok" in status(app, clock), timeout=15)
    shown = status(app, clock)
    assert "  audit 2026-01-06 03:01:00 +01:00: 0 missing; nothing lost (0 not yet polled)" in shown


def test_status_check_warns_while_the_last_audit_found_problems(any_db_app, clock, dovecot, mailbox, sink):
    app = any_db_app  # the audit's rows on SQLite, then on PostgreSQL
    uid = dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    sink.clear()

    def check() -> tuple[int, str]:
        result = run_cli("status", "--check", config=app.settings.path, clock=clock)
        return result.returncode, result.stdout.strip()

    assert check()[0] == 0  # audited never: nothing to say
    assert audit(app, clock).returncode == 0
    assert check()[0] == 0  # a clean audit: nothing to say either
    with dovecot.client(SUPPORT_USER) as client:  # another client takes \Seen off the stored message
        client.select_folder(mailbox)
        client.remove_flags([uid], ["\\Seen"])
    clock.advance(minutes=5)
    assert audit(app, clock).returncode == 3
    clock.advance(hours=2)
    run_once(app)  # polling does not clear it: only an audit looks at the server's state again
    code, line = check()
    assert code == 1
    assert line.startswith(
        "MAILBRIDGE WARNING - mailbox support last audit (2h ago) found 1 stored but not marked "
        "(mailbridge mailboxes audit support --fix) | "
    )

    assert audit(app, clock, "--fix").returncode == 0  # the fix audits again and keeps the clean result
    code, line = check()
    assert code == 0 and line.startswith("MAILBRIDGE OK - "), line
