"""The daemon under real faults (issue 21): a database that goes away, mail expunged by another client
in the middle of a poll, an IMAP connection cut during FETCH, and an SMTP server that refuses with a reason.

The faults are real: PostgreSQL is stopped or a session of it terminated, another IMAP client expunges
over its own connection, the socket is shut down; only the moment is chosen, by a subclass of the real
ImapSource that brings the fault between two of its commands.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import psycopg
import pytest
from sqlmodel import Session, select

from mailbridge.ingest.sources.imap import FolderStatus, ImapSource, RawMail
from mailbridge.runtime.daemon import Daemon
from mailbridge.runtime.jobs import poll_mailboxes
from mailbridge.store.models import MailboxHealth, Message, OutboxMail
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.servers.postgres import DB_USER, PostgresServer
from tests.servers.util import wait_until

NO_POLLING = "[schedule]\npoll_interval_seconds = 3600\noutbox_interval_seconds = 3600\n"


def stored_subjects(app) -> list[str]:
    with Session(app.engine) as session:
        return sorted(m.subject for m in session.exec(select(Message)))


def health_of(app, name: str = "support") -> MailboxHealth | None:
    with Session(app.engine) as session:
        return session.exec(select(MailboxHealth).where(MailboxHealth.mailbox == name)).first()


def poll(app) -> tuple[list, list[str]]:
    return asyncio.run(poll_mailboxes(app))


# (a) A database outage while the health file is written: the mailbox loop goes on.


def test_database_down_while_the_health_file_is_written_does_not_end_the_poll_loop(
    make_app, own_postgres, dovecot, sink, mailbox, tmp_path, caplog
):
    app = make_app(db_url=own_postgres.url, extra=NO_POLLING)
    health_file = tmp_path / "health.json"
    daemon = Daemon(app, health_file=health_file)
    thread = threading.Thread(target=lambda: asyncio.run(daemon.run()), name="daemon")
    thread.start()
    try:
        assert wait_until(
            lambda: (
                daemon.watchers
                and all(w.is_idling.is_set() for w in daemon.watchers)
                and daemon.poll_counts.get("support", 0) >= 2
                and not daemon.polling
                and health_file.exists()
            ),
            timeout=10,
        )
        own_postgres.stop()
        # IDLE wakes the loop: the poll fails, recording it fails, and gathering the status for the health file
        # raises the database error, which used to end the loop for good.
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="sent during the outage"))
        # The two happen in either order: the health file is written after the cycle, the failure recorded by the poll.
        assert wait_until(
            lambda: (
                "cannot write the health file" in caplog.text
                and "cannot record the failed poll mailbox=support" in caplog.text
            ),
            timeout=30,
        )
        own_postgres.start()
        restarted_ns = time.time_ns()
        # After the backoff (at most 15 s while nothing could be recorded) the same loop polls and stores it.
        assert wait_until(lambda: stored_subjects(app) == ["sent during the outage"], timeout=40, interval=0.2)
        # ... and writes the health file again.
        assert wait_until(lambda: health_file.stat().st_mtime_ns > restarted_ns, timeout=10)
        assert json.loads(health_file.read_text())["last_error"] is None
        assert daemon.watchers and all(w.is_alive() for w in daemon.watchers)
        # And IDLE still wakes it.
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="sent after the outage"))
        assert wait_until(
            lambda: stored_subjects(app) == ["sent after the outage", "sent during the outage"], timeout=10
        )
    finally:
        daemon.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()


# (b) Mail expunged by another client in the middle of a poll.


def expunge_elsewhere(dovecot, folder: str, uid: int) -> None:
    """Delete and expunge one message over a second IMAP connection, as a mail client does."""
    with dovecot.client(SUPPORT_USER) as other:
        other.select_folder(folder)
        other.delete_messages([uid])
        other.expunge()


def racing_source(dovecot, folder: str, uid: int, *, at: str) -> type[ImapSource]:
    """The real ImapSource, except that another client expunges `uid` once: right after the SEARCH
    (at="search": the size FETCH in between tells this session, and the UID is missing from the FETCH),
    right before the FETCH (at="fetch": Dovecot answers `BODY[] NIL`), or after the FETCH and the commit,
    right before the after-sync step (at="mark")."""
    pending = [uid]

    def expunge_once(now: str) -> None:
        if now == at and pending:
            expunge_elsewhere(dovecot, folder, pending.pop())

    class Raced(ImapSource):
        def new_uids(self, after_uid: int) -> list[int]:
            found = super().new_uids(after_uid)
            expunge_once("search")
            return found

        def fetch(self, folder: str, status: FolderStatus, uids: list[int]) -> list[RawMail]:
            expunge_once("fetch")
            return super().fetch(folder, status, uids)

        def mark_processed(self, uids, step=None) -> bool:
            expunge_once("mark")
            return super().mark_processed(uids, step)

    return Raced


@pytest.mark.parametrize("at", ["search", "fetch"])
def test_message_expunged_between_search_and_fetch_is_skipped_and_the_rest_stored(
    make_app, dovecot, sink, mailbox, caplog, at
):
    uids = [dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject=f"Order {n} late")) for n in range(3)]
    app = make_app()
    app.open_source = racing_source(dovecot, mailbox, uids[1], at=at)
    [result], errors = poll(app)
    assert errors == []
    assert (result.fetched, result.stored, result.failed, result.vanished) == (2, 2, 0, 1)
    assert f"message vanished before fetch mailbox=support folder={mailbox} uid={uids[1]}" in caplog.text
    assert "rolled back" not in caplog.text  # the batch was stored in one transaction
    assert stored_subjects(app) == ["Order 0 late", "Order 2 late"]
    assert dovecot.flags(SUPPORT_USER, mailbox) == {uids[0]: ("\\Seen",), uids[2]: ("\\Seen",)}
    assert health_of(app).consecutive_failures == 0
    # The vanished UID held the stored position, so the next poll looks again: the server no longer lists it,
    # the message after it is found stored (no second ticket), and the position moves on.
    [again], errors = poll(app)
    assert errors == [] and (again.fetched, again.stored, again.duplicates, again.vanished) == (1, 0, 1, 0)
    assert stored_subjects(app) == ["Order 0 late", "Order 2 late"]
    [third], errors = poll(app)
    assert errors == [] and third.fetched == 0


def test_message_expunged_before_the_move_does_not_abort_the_poll(make_app, dovecot, sink, mailbox):
    target = f"{mailbox}-done"
    uids = [dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject=f"Order {n} late")) for n in range(3)]
    app = make_app(extra_mailbox=f'after_sync = "move:{target}"')
    app.open_source = racing_source(dovecot, mailbox, uids[1], at="mark")
    [result], errors = poll(app)
    # Whether the server refuses the MOVE (NO [EXPUNGEISSUED]) or moves the others, the poll is no failure.
    assert errors == [] and result.stored == 3
    assert health_of(app).consecutive_failures == 0
    # What was not moved is found stored at the next poll and moved then, without a second ticket.
    [again], errors = poll(app)
    assert errors == [] and again.stored == 0
    assert dovecot.uids(SUPPORT_USER, mailbox) == []
    assert len(dovecot.uids(SUPPORT_USER, target)) == 2
    assert stored_subjects(app) == ["Order 0 late", "Order 1 late", "Order 2 late"]


# (c) Failures in the middle of a poll are mailbox failures: a health row, a retry time, `status` says so.


def assert_status_failing(app, clock, *expected: str) -> None:
    result = run_cli("status", config=app.settings.path, clock=clock)
    assert result.returncode == 0, result.stderr
    assert "mailbox support: FAILING since" in result.stdout and ", retry at 20" in result.stdout, result.stdout
    for text in expected:
        assert text in result.stdout, result.stdout


def terminate_the_poll_waiting_on_a_lock(server: PostgresServer, dbname: str) -> threading.Thread:
    """Lock the message table from another session; once the poll's session waits on it, terminate that
    session (as an admin or a restart of the database does) and release the lock."""
    locker = psycopg.connect(host=server.host, port=server.port, user=DB_USER, dbname=dbname)
    locker.execute("LOCK TABLE message IN ACCESS EXCLUSIVE MODE")
    waiting = (
        "FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' AND wait_event_type = 'Lock'"
    )

    def terminate() -> None:
        admin = psycopg.connect(host=server.host, port=server.port, user=DB_USER, dbname=dbname, autocommit=True)
        with locker, admin:
            assert wait_until(lambda: admin.execute(f"SELECT count(*) {waiting}", (dbname,)).fetchone()[0], 10)
            admin.execute(f"SELECT pg_terminate_backend(pid) {waiting}", (dbname,))
            locker.rollback()

    thread = threading.Thread(target=terminate, name="terminator")
    thread.start()
    return thread


def test_database_session_killed_in_the_middle_of_a_poll_is_a_mailbox_failure(
    make_app, postgres, dovecot, sink, mailbox, clock
):
    dbname = "faults_mid_poll"
    app = make_app(db_url=postgres.create_database(dbname))
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Order 7 late"))
    killers: list[threading.Thread] = []

    class KilledInIntake(ImapSource):
        def fetch(self, folder: str, status: FolderStatus, uids: list[int]) -> list[RawMail]:
            found = super().fetch(folder, status, uids)
            killers.append(terminate_the_poll_waiting_on_a_lock(postgres, dbname))
            return found

    app.open_source = KilledInIntake
    _results, [error] = poll(app)
    killers[0].join(timeout=10)
    assert error.startswith("OperationalError: ") and "terminating connection" in error
    health = health_of(app)
    assert health.consecutive_failures == 1 and health.retry_at > health.failing_since
    assert_status_failing(app, clock, "terminating connection")
    assert stored_subjects(app) == []
    # The next poll (the database is fine again) stores the message and ends the failure episode.
    app.open_source = ImapSource
    assert poll(app)[1] == []
    assert stored_subjects(app) == ["Order 7 late"]
    assert health_of(app).consecutive_failures == 0


class CutDuringFetch(ImapSource):
    """The real source; the TCP connection to the server is cut just before the FETCH."""

    def fetch(self, folder: str, status: FolderStatus, uids: list[int]) -> list[RawMail]:
        self.client.socket().shutdown(socket.SHUT_RDWR)
        return super().fetch(folder, status, uids)


def test_imap_connection_cut_during_fetch_is_a_mailbox_failure(make_app, dovecot, sink, mailbox, clock, caplog):
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Order 8 late"))
    app = make_app()
    app.open_source = CutDuringFetch
    _results, [error] = poll(app)
    assert error.startswith("mailbox 'support' (127.0.0.1:") and "UID FETCH BODY.PEEK[] failed" in error
    assert "Traceback" not in caplog.text  # one line, no "job crashed" traceback
    assert health_of(app).consecutive_failures == 1
    assert_status_failing(app, clock, "UID FETCH BODY.PEEK[] failed")
    app.open_source = ImapSource
    assert poll(app)[1] == []
    assert stored_subjects(app) == ["Order 8 late"]


# (d) The SMTP server's reason is kept.


@pytest.mark.parametrize(("code", "status"), [(550, "held"), (451, "queued")])
def test_smtp_refusal_keeps_the_servers_whole_reply(make_app, dovecot, sink, mailbox, clock, code, status):
    reason = f"{code // 100}.1.1 <anna@example.org>: Recipient address rejected: User unknown in virtual mailbox table"
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    sink.fail_next("RCPT", code, reason)
    run_once(app)
    with Session(app.engine) as session:
        [row] = session.exec(select(OutboxMail))
    assert row.status == status
    assert row.last_error == f"{code} {reason} (anna@example.org)"
    listed = run_cli("outbox", "list", config=app.settings.path, clock=clock)
    assert listed.returncode == 0, listed.stderr
    assert f"error: {code} {reason} (anna@example.org)" in listed.stdout
