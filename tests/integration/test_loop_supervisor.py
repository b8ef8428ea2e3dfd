"""The daemon's loops survive any exception (issue 21): each is logged once with its name, recorded on the mailbox's
or the job's health, shown by `mailbridge status`, backed off and run again, and the mail goes on.

The faults are real where they can be: Dovecot's side of the IDLE connection is killed, the database refuses
writes (a trigger that fails like a full disk), and the IDLE thread and the poll loop meet an exception from a
collaborator at a chosen moment (the real ImapSource and PollTally, raising once where a bug would).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlmodel import Session, select

from mailbridge.decisions.kinds import MailKind
from mailbridge.ingest.poll import PollResult
from mailbridge.ingest.sources import idle
from mailbridge.ingest.sources.imap import ImapSource
from mailbridge.runtime.daemon import Daemon
from mailbridge.runtime.metrics import PollTally
from mailbridge.runtime.systemd import Notifier
from mailbridge.store.models import JobHealth, Message, OutboxMail
from tests.conftest import SUPPORT_USER, customer_mail, run_cli
from tests.servers.postgres import DB_USER
from tests.servers.util import wait_until

NO_POLLING = "[schedule]\npoll_interval_seconds = 3600\noutbox_interval_seconds = 1\n"
ADMIN = 'admin_address = "admin@shop.example"'
# The first backoff is 7.5-15 s (decisions/mailbox_health.retry_delay); the waits below allow for it.
AFTER_BACKOFF = 30


def stored_subjects(app) -> list[str]:
    with Session(app.engine) as session:
        return sorted(m.subject for m in session.exec(select(Message)))


@contextmanager
def running(daemon: Daemon) -> Iterator[None]:
    """Run the daemon in a thread of its own; stop it and check that it ended."""
    thread = threading.Thread(target=lambda: asyncio.run(daemon.run()), name="daemon")
    thread.start()
    try:
        yield
    finally:
        daemon.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()


def settled(daemon: Daemon) -> bool:
    """IDLE runs, and the start-up poll and the catch-up poll after IDLE began are over."""
    return bool(
        daemon.watchers
        and all(w.is_idling.is_set() for w in daemon.watchers)
        and daemon.poll_counts.get("support", 0) >= 2
        and not daemon.polling
    )


def status(app, clock) -> str:
    result = run_cli("status", config=app.settings.path, clock=clock)
    assert result.returncode == 0, result.stderr
    return result.stdout


def crash_records(caplog, loop: str) -> list:
    return [r for r in caplog.records if r.getMessage().startswith(f"loop crashed {loop}")]


# The IDLE watcher.


def _tcp_sockets() -> dict[str, tuple[int, int]]:
    """Established TCP sockets of this host: inode -> (local port, remote port)."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01":
            found[fields[9]] = (int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16))
    return found


def _holders(inode: str) -> list[int]:
    """The processes holding the socket (an fd may close while we look: skip it)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        if any(_link(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]" for fd in fds):
            pids.append(int(pid))
    return pids


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def kill_dovecot_side_of_idle(dovecot) -> int:
    """SIGKILL the Dovecot process serving this process's one open IMAPS connection (the IDLE watcher's): the
    server is gone without a BYE, as when it crashes or a firewall resets the connection."""
    sockets = _tcp_sockets()
    [ours] = [
        local
        for inode, (local, remote) in sockets.items()
        if remote == dovecot.imaps_port and os.getpid() in _holders(inode)
    ]
    [server_side] = [inode for inode, ports in sockets.items() if ports == (dovecot.imaps_port, ours)]
    [pid] = _holders(server_side)
    os.kill(pid, signal.SIGKILL)
    return pid


def test_idle_connection_killed_on_the_server_is_noticed_and_idle_resumes(make_app, dovecot, sink, mailbox, caplog):
    app = make_app(extra=NO_POLLING)
    daemon = Daemon(app)
    with running(daemon):
        assert wait_until(lambda: settled(daemon), timeout=10)
        [watcher] = daemon.watchers
        polls = daemon.poll_counts["support"]
        kill_dovecot_side_of_idle(dovecot)
        # imapclient returns nothing at once on a closed connection; the watcher ends IDLE, which fails, and
        # reconnects after its backoff instead of idling on a dead socket for `idle_timeout_seconds`.
        assert wait_until(lambda: f"idle lost mailbox=support folder={mailbox}" in caplog.text, timeout=10)
        assert not watcher.is_idling.is_set()
        assert wait_until(lambda: watcher.is_idling.is_set(), timeout=AFTER_BACKOFF)
        # The catch-up poll after IDLE began again; then only IDLE can wake the loop (its timer is an hour away).
        assert wait_until(lambda: daemon.poll_counts["support"] > polls and not daemon.polling, timeout=10)
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="sent after the cut"))
        assert wait_until(lambda: stored_subjects(app) == ["sent after the cut"], timeout=5)
        assert daemon.watchers == [watcher] and watcher.is_alive()
    assert not crash_records(caplog, "loop=idle")


def test_a_settled_idle_connection_cut_wakes_the_poll_and_idles_again_at_once(
    make_app, dovecot, sink, mailbox, caplog, monkeypatch
):
    """A watch that had lasted is reconnected without the backoff, and the poll runs at once: mail that arrived as
    the connection broke is stored within seconds, not at the next timed poll (an hour away here)."""
    monkeypatch.setattr(idle, "SETTLED_SECONDS", 0.5)
    app = make_app(extra=NO_POLLING)
    daemon = Daemon(app)
    with running(daemon):
        assert wait_until(lambda: settled(daemon), timeout=10)
        [watcher] = daemon.watchers
        time.sleep(0.6)
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="sent as the cut came"))
        kill_dovecot_side_of_idle(dovecot)
        assert wait_until(lambda: stored_subjects(app) == ["sent as the cut came"], timeout=5)
        assert wait_until(lambda: watcher.is_idling.is_set(), timeout=5)
        assert daemon.watchers == [watcher] and watcher.is_alive()
    assert not crash_records(caplog, "loop=idle")


def idle_breaks_once() -> type[ImapSource]:
    """The real source; the IDLE watcher's first capability check raises what a bug in a library would."""
    pending = [TypeError("'NoneType' object is not subscriptable")]

    class BreaksOnce(ImapSource):
        def has_capability(self, name: str) -> bool:
            if name == "IDLE" and pending:
                raise pending.pop()
            return super().has_capability(name)

    return BreaksOnce


def test_idle_thread_that_raises_hands_the_error_back_and_a_new_watcher_idles(make_app, dovecot, sink, mailbox, caplog):
    app = make_app(extra=NO_POLLING)
    app.open_source = idle_breaks_once()
    daemon = Daemon(app)
    loop = f"loop=idle mailbox=support folder={mailbox}"
    with running(daemon):
        assert wait_until(lambda: daemon.restarts.get(loop) == 1, timeout=10)
        [first] = daemon.watchers
        assert not first.is_alive() and isinstance(first.outcome.exception(), TypeError)
        # The thread's exception reached the daemon: logged there once, with the loop's name and its traceback.
        [record] = crash_records(caplog, loop)
        assert record.exc_info and record.exc_info[0] is TypeError
        # After the backoff a new watcher runs; IDLE wakes the poll again (its timer is an hour away).
        assert wait_until(lambda: daemon.watchers != [first] and settled(daemon), timeout=AFTER_BACKOFF)
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="pushed to the new watcher"))
        assert wait_until(lambda: stored_subjects(app) == ["pushed to the new watcher"], timeout=5)
    assert len(crash_records(caplog, loop)) == 1
    assert all(not w.is_alive() for w in daemon.watchers)


# The mailbox loop.


class BreakingTally(PollTally):
    """The real counters; while `breaking` is set, counting a poll raises, as a bug after the poll would."""

    def __init__(self, error: type[BaseException] = TypeError) -> None:
        super().__init__()
        self.breaking = threading.Event()
        self.error = error

    def record(self, mailbox: str, result: PollResult | None) -> None:
        super().record(mailbox, result)
        if self.breaking.is_set():
            raise self.error("unsupported operand type(s) for +=: 'int' and 'NoneType'")


def test_poll_loop_that_crashes_is_recorded_shown_and_restarted(make_app, dovecot, sink, mailbox, clock, caplog):
    app = make_app(extra=NO_POLLING)
    tally = BreakingTally()
    tally.breaking.set()
    daemon = Daemon(app, tally=tally)
    with running(daemon):
        assert wait_until(lambda: daemon.restarts.get("loop=poll mailbox=support") == 1, timeout=10)
        shown = status(app, clock)
        # The poll itself worked (the mailbox synced); the loop crashed after it: that is the loop's failure.
        assert "mailbox support: ok" in shown and "job loop:poll:support: FAILING since" in shown, shown
        assert "poll loop crashed: TypeError: unsupported operand type(s)" in shown, shown
        tally.breaking.clear()
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="stored after the crash"))
        # Wakes are ignored while the supervisor backs off; then the new loop polls and stores it.
        assert wait_until(lambda: stored_subjects(app) == ["stored after the crash"], timeout=AFTER_BACKOFF)
        # Its round finished (counted, health written, waiting for the next poll): the loop's episode ends.
        assert wait_until(lambda: "job loop:poll:support: ok" in status(app, clock), timeout=5)
        assert "mailbox support: ok" in status(app, clock)
    [record] = crash_records(caplog, "loop=poll mailbox=support")
    assert record.exc_info and record.exc_info[0] is TypeError
    assert daemon.restarts == {"loop=poll mailbox=support": 1}


def received_watchdog_pings(listener: socket.socket) -> int:
    """Read every notification waiting on the socket; count the WATCHDOG=1 among them."""
    pings = 0
    while True:
        try:
            pings += listener.recv(4096).split(b"\n").count(b"WATCHDOG=1")
        except BlockingIOError:
            return pings


def test_watchdog_is_not_pinged_once_a_loop_supervisor_is_gone(make_app, dovecot, sink, mailbox, tmp_path, caplog):
    app = make_app(extra=NO_POLLING)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    listener.setblocking(False)
    # Not an Exception: nothing should raise this, and the supervisor does not catch it; the loop is gone.
    tally = BreakingTally(asyncio.CancelledError)
    daemon = Daemon(app, tally=tally, notifier=Notifier(str(tmp_path / "notify")), watchdog_timeout=1.0)
    with listener, running(daemon):
        assert wait_until(lambda: settled(daemon), timeout=10)
        assert wait_until(lambda: received_watchdog_pings(listener) > 0, timeout=5)
        tally.breaking.set()
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="the last poll of this loop"))
        assert wait_until(lambda: "loop supervisor ended, the loop no longer runs loop=poll" in caplog.text, 10)
        assert wait_until(
            lambda: "watchdog: not pinging, these loops ended loops=loop=poll mailbox=support" in caplog.text, 5
        )
        received_watchdog_pings(listener)
        time.sleep(2.0)  # four ping intervals of WatchdogSec=1
        assert received_watchdog_pings(listener) == 0
        assert stored_subjects(app) == ["the last poll of this loop"]


def test_mailbox_failing_on_a_full_disk_is_alerted_after_alert_after_minutes_and_recovers(
    make_app, postgres, dovecot, sink, mailbox, clock
):
    dbname = "supervisor_disk_full"
    app = make_app(
        db_url=postgres.create_database(dbname),
        extra=NO_POLLING,
        extra_support=ADMIN,
        extra_mailbox="alert_after_minutes = 1",
    )
    admin = psycopg.connect(host=postgres.host, port=postgres.port, user=DB_USER, dbname=dbname, autocommit=True)
    daemon = Daemon(app)
    with admin, running(daemon):
        assert wait_until(lambda: settled(daemon), timeout=10)
        # The disk fills up: storing a message fails as PostgreSQL fails then (SQLSTATE 53100), small writes pass.
        admin.execute(
            "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$"
        )
        admin.execute("CREATE TRIGGER disk_full BEFORE INSERT ON message FOR EACH ROW EXECUTE FUNCTION disk_full()")
        clock.advance(minutes=2)  # the last successful poll is now longer ago than alert_after_minutes
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="sent while the disk was full"))
        assert wait_until(lambda: "mailbox support: FAILING since" in status(app, clock), timeout=10)
        assert "No space left on device" in status(app, clock)
        assert wait_until(lambda: any(m.rcpt_tos == ("admin@shop.example",) for m in sink.messages), timeout=10)
        [alert] = [m for m in sink.messages if m.rcpt_tos == ("admin@shop.example",)]
        assert "mailbox support has not synced since" in alert.message["Subject"]
        admin.execute("DROP TRIGGER disk_full ON message")
        assert wait_until(lambda: stored_subjects(app) == ["sent while the disk was full"], timeout=AFTER_BACKOFF)
        assert wait_until(lambda: "mailbox support: ok" in status(app, clock), timeout=5)
    assert len([m for m in sink.messages if m.rcpt_tos == ("admin@shop.example",)]) == 1


def admin_mails(sink) -> list:
    return [m for m in sink.messages if m.rcpt_tos == ("admin@shop.example",)]


def job_alert_rows(app) -> list[OutboxMail]:
    with Session(app.engine) as session:
        return list(session.exec(select(OutboxMail).where(OutboxMail.kind == MailKind.JOB_ALERT)))


def job_failures(app, job: str) -> int:
    with Session(app.engine) as session:
        row = session.exec(select(JobHealth).where(JobHealth.job == job)).first()
        return row.consecutive_failures if row is not None else 0


def test_poll_loop_crashing_after_every_successful_poll_is_alerted_once(
    make_app, dovecot, sink, mailbox, clock, caplog
):
    app = make_app(extra=NO_POLLING, extra_support=ADMIN, extra_mailbox="alert_after_minutes = 1")
    tally = BreakingTally()
    tally.breaking.set()  # every poll succeeds, and the loop crashes right after it: it never gets to the next
    daemon = Daemon(app, tally=tally)
    loop = "loop=poll mailbox=support"
    with running(daemon):
        assert wait_until(lambda: daemon.restarts.get(loop) == 1, timeout=10)
        assert "mailbox support: ok" in status(app, clock)
        assert job_alert_rows(app) == [] and admin_mails(sink) == []  # failing, but not for alert_after_minutes
        clock.advance(minutes=2)
        # The restarted loop polls (successfully: the mailbox stays ok) and crashes again; the episode goes on
        # from the first crash, 2 minutes ago by now: the one alert.
        assert wait_until(lambda: daemon.restarts.get(loop) == 2, timeout=AFTER_BACKOFF)
        assert wait_until(lambda: len(admin_mails(sink)) == 1, timeout=10)
        [alert] = admin_mails(sink)
        assert "mailbridge: daemon job loop:poll:support failing since" in alert.message["Subject"]
        assert "poll loop crashed: TypeError: unsupported operand type(s)" in alert.message.get_content()
        shown = status(app, clock)
        assert "mailbox support: ok" in shown and "job loop:poll:support: FAILING since" in shown, shown
        # One more crash in the same failure period: no second alert.
        assert wait_until(lambda: daemon.restarts.get(loop) == 3, timeout=2 * AFTER_BACKOFF)
        assert wait_until(lambda: job_failures(app, "loop:poll:support") == 3, timeout=5)
        time.sleep(2)  # the delivery loop runs every second: a second alert would have gone out
    assert len(job_alert_rows(app)) == 1 and len(admin_mails(sink)) == 1
    assert daemon.poll_counts["support"] == 3  # each crash came after a finished poll


def test_failing_delivery_alerts_once_after_job_alert_after_minutes_when_delivery_works_again(
    make_app, dovecot, sink, mailbox, clock, tmp_path
):
    app = make_app(extra=NO_POLLING + "job_alert_after_minutes = 1\n", extra_support=ADMIN)
    with sqlite3.connect(tmp_path / "mailbridge.db") as db:
        db.execute(
            "CREATE TRIGGER refuse_claims BEFORE UPDATE ON outboxmail BEGIN "
            "SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    daemon = Daemon(app)

    def store_and_deliver(n: int) -> None:
        """A new mail: the poll stores it and wakes the delivery loop, whose backoff then ends at once."""
        failures = job_failures(app, "deliver_outbox")
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject=f"mail {n}"))
        assert wait_until(lambda: job_failures(app, "deliver_outbox") > failures, timeout=10)

    with running(daemon):
        assert wait_until(lambda: settled(daemon), timeout=10)
        store_and_deliver(1)
        store_and_deliver(2)
        assert "job deliver_outbox: FAILING since" in status(app, clock)
        assert job_alert_rows(app) == []  # two failures, within job_alert_after_minutes of the first
        clock.advance(minutes=2)
        store_and_deliver(3)
        # Queued now, at the right time; it cannot leave while delivery itself is what fails.
        [queued] = job_alert_rows(app)
        assert queued.subject.startswith("mailbridge: daemon job deliver_outbox failing since")
        store_and_deliver(4)
        assert len(job_alert_rows(app)) == 1 and sink.messages == []
        with sqlite3.connect(tmp_path / "mailbridge.db") as db:
            db.execute("DROP TRIGGER refuse_claims")
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="mail 5"))
        assert wait_until(lambda: len(sink.messages) == 6, timeout=10)
        assert wait_until(lambda: "job deliver_outbox: ok" in status(app, clock), timeout=5)
    [alert] = admin_mails(sink)
    assert "database or disk is full" in alert.message.get_content()
    # The five receipts and the one alert.
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["admin@shop.example"] + ["anna@example.org"] * 5
    assert len(job_alert_rows(app)) == 1


def test_timer_job_refused_by_postgresql_is_alerted_once_after_job_alert_after_minutes(
    make_app, postgres, dovecot, sink, mailbox, clock
):
    dbname = "supervisor_sla_refused"
    app = make_app(
        db_url=postgres.create_database(dbname),
        extra=NO_POLLING + "job_alert_after_minutes = 1\n",
        extra_support=ADMIN,
    )
    admin = psycopg.connect(host=postgres.host, port=postgres.port, user=DB_USER, dbname=dbname, autocommit=True)
    daemon = Daemon(app, timer_interval_seconds=1)
    with admin, running(daemon):
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Order 9 late"))
        assert wait_until(lambda: len(sink.messages) == 1, timeout=10)  # stored; its receipt sent
        # PostgreSQL refuses new ticket events as it does on a full disk: reporting the SLA breach fails.
        admin.execute(
            "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$"
        )
        admin.execute("CREATE TRIGGER disk_full BEFORE INSERT ON ticketevent FOR EACH ROW EXECUTE FUNCTION disk_full()")
        clock.advance(days=10)  # the ticket is past its first-response time: the SLA timer reports it
        assert wait_until(lambda: job_failures(app, "check_sla") == 1, timeout=10)
        assert "No space left on device" in status(app, clock)
        assert job_alert_rows(app) == [] and admin_mails(sink) == []
        clock.advance(minutes=2)
        assert wait_until(lambda: job_failures(app, "check_sla") == 2, timeout=AFTER_BACKOFF)
        assert wait_until(lambda: len(admin_mails(sink)) == 1, timeout=10)
        [alert] = admin_mails(sink)
        assert "mailbridge: daemon job check_sla failing since" in alert.message["Subject"]
        assert "No space left on device" in alert.message.get_content()
        assert wait_until(lambda: job_failures(app, "check_sla") == 3, timeout=2 * AFTER_BACKOFF)
        time.sleep(2)  # the delivery loop runs every second: a second alert would have gone out
    assert len(job_alert_rows(app)) == 1 and len(admin_mails(sink)) == 1


# The delivery loop and the timers.


def test_delivery_and_timer_jobs_failing_in_the_database_are_shown_and_recover(
    make_app, dovecot, sink, mailbox, clock, tmp_path
):
    app = make_app(extra=NO_POLLING, extra_support=ADMIN)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Order 9 late"))
    # The database refuses to change outbox rows and to mark a ticket's SLA as reported (as a full disk would).
    refusals = {
        "refuse_claims": "BEFORE UPDATE ON outboxmail",
        "refuse_sla": "BEFORE UPDATE OF sla_reported_at ON ticket",
    }
    with sqlite3.connect(tmp_path / "mailbridge.db") as db:
        for name, when in refusals.items():
            db.execute(f"CREATE TRIGGER {name} {when} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    daemon = Daemon(app, timer_interval_seconds=1)
    with running(daemon):
        assert wait_until(lambda: stored_subjects(app) == ["Order 9 late"], timeout=10)
        clock.advance(days=10)  # the ticket is past its first-response time: the SLA timer reports it
        assert wait_until(
            lambda: all(f"job {job}: FAILING since" in status(app, clock) for job in ("check_sla", "deliver_outbox")),
            timeout=10,
        )
        shown = status(app, clock)
        assert shown.count("): IntegrityError: (sqlite3.IntegrityError) database or disk is full") == 2, shown
        assert sink.messages == []
        with sqlite3.connect(tmp_path / "mailbridge.db") as db:
            for name in refusals:
                db.execute(f"DROP TRIGGER {name}")
        # After their backoff both jobs run again: the receipt and the SLA report go out, and status says ok.
        assert wait_until(lambda: len(sink.messages) == 2, timeout=AFTER_BACKOFF)
        assert wait_until(
            lambda: all(f"job {job}: ok" in status(app, clock) for job in ("check_sla", "deliver_outbox")), timeout=10
        )
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["admin@shop.example", "anna@example.org"]
    assert daemon.restarts == {}  # the jobs failed; no loop ended
