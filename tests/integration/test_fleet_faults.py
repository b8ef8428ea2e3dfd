"""Several `mailbridge run` daemons on one PostgreSQL under real faults (issue 18): a daemon killed with SIGKILL,
PostgreSQL restarted, Dovecot frozen or stopped, a folder recreated with a new UIDVALIDITY, an SMTP relay that
refuses, a full disk (and two daemons creating the same Contact as they start). The faults are real processes and servers broken on purpose; afterwards the test counts from
outside: every message stored once (rows), marked on the server (flags), answered once (receipts at the sink; an
identical resend after a crash is the only repeat allowed, and it is counted and printed).

One daemon under the same kinds of fault is covered elsewhere: test_daemon_crash.py (SIGKILL mid-batch, SQLite),
test_faults.py (database down while the loop writes its health, a session killed mid-poll, an IMAP connection cut
during FETCH, an SMTP refusal's reason kept); the lease itself (move after a kill, SIGSTOP fencing) in test_fleet.py.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from imapclient.exceptions import IMAPClientError
from sqlalchemy import text
from sqlmodel import Session, select

from mailbridge.base.config.settings import load_settings
from mailbridge.runtime.app import build_app
from mailbridge.runtime.daemon import Daemon
from mailbridge.runtime.fleet import Fleet, LeaseRound
from mailbridge.store import db
from mailbridge.store.models import Contact
from mailbridge.store.outbox_queue import SENDING_LEASE
from tests.conftest import REPO, SUPPORT_USER, customer_mail, run_cli
from tests.integration.fleet_processes import (
    BEAT,
    FLEET,
    LEASE,
    all_seen,
    append,
    count_resends,
    daemons,
    fleet_setup,
    held_by_pid,
    other_mailbox,
    receipts_arrived,
    stop_cleanly,
    stored,
    stored_count,
)
from tests.servers.util import wait_until

SETTLE = 120  # seconds: the longest any test waits for the fleet to finish its work after a fault


def logs(tmp_path: Path) -> str:
    return "".join(path.read_text(errors="replace") for path in sorted(tmp_path.glob("daemon*.log")))


def every_log_has(tmp_path: Path, daemons: int, needle: str) -> bool:
    """Each of the daemons (daemon0.log ... ) has logged `needle`."""
    return all(needle in (tmp_path / f"daemon{n}.log").read_text(errors="replace") for n in range(daemons))


def assert_all_done(engine, dovecot, sink, folders: dict[str, str], expected: Counter, per_folder: Counter) -> int:
    """Wait until every message is stored once, flagged on the server and answered; return the identical resends."""
    assert wait_until(lambda: stored(engine) == expected, timeout=SETTLE, interval=0.5), (
        f"stored {sum(stored(engine).values())} of {sum(expected.values())}, "
        f"doubled {[m for m, n in stored(engine).items() if n > 1][:5]}"
    )
    for folder in folders.values():
        assert wait_until(lambda folder=folder: all_seen(dovecot, folder, per_folder[folder]), timeout=30), folder
    assert wait_until(lambda: receipts_arrived(sink, expected), timeout=60, interval=0.5)
    assert wait_until(lambda: unsent(engine) == 0, timeout=30, interval=0.2), f"{unsent(engine)} mails not sent"
    with engine.connect() as connection:
        kinds = Counter(dict(connection.execute(text("SELECT kind, count(*) FROM message GROUP BY kind")).all()))
    assert kinds["quarantined"] == 0, kinds
    return count_resends(sink, expected)


def unsent(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM outboxmail WHERE status <> 'sent'")).scalar_one()


def expire_dead_claims(engine) -> int:
    """Once nothing is queued and every mail still `sending` was claimed over 6 s ago (by a sender that is gone: a
    killed daemon, or a delivery pass that died with the database; a living one records each mail of its claim, five
    at most, as it sends it to the local sink), let their claim run out now rather than SENDING_LEASE (2 minutes)
    later, so a daemon takes them up; return how many there were."""

    def only_dead_claims() -> bool:
        with engine.connect() as connection:
            return not connection.execute(
                text(
                    "SELECT count(*) FROM outboxmail WHERE status = 'queued' "
                    "OR (status = 'sending' AND last_attempt_at > now() - interval '6 seconds')"
                )
            ).scalar_one()

    assert wait_until(only_dead_claims, timeout=60, interval=0.2)
    with engine.begin() as connection:
        return connection.execute(
            text("UPDATE outboxmail SET last_attempt_at = last_attempt_at - :lease WHERE status = 'sending'"),
            {"lease": SENDING_LEASE},
        ).rowcount


# 1. SIGKILL one of three daemons while they share 2,000 messages.

PER_MAILBOX = 500


def test_sigkill_of_one_of_three_daemons_sharing_2000_messages_loses_and_doubles_nothing(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    config, engine, folders = fleet_setup(config_file, postgres, dovecot, mailbox, "faults_kill", 4)
    expected, per_folder = Counter(), Counter()
    for name, folder in folders.items():
        expected.update(append(dovecot, folder, f"{name}-", PER_MAILBOX))
        per_folder[folder] = PER_MAILBOX
    started = time.monotonic()
    with daemons(config, tmp_path, 3) as trio:
        # The three share the four mailboxes (two each at most) and a fifth of the mail is stored.
        assert wait_until(
            lambda: (
                sum(map(len, (held := held_by_pid(engine)).values())) == 4
                and max(map(len, held.values())) <= 2
                and stored_count(engine) >= len(expected) // 5
            ),
            timeout=6 * LEASE + 60,
            interval=0.2,
        )
        held = held_by_pid(engine)
        with engine.connect() as connection:
            done = dict(connection.execute(text("SELECT mailbox, count(*) FROM message GROUP BY mailbox")).all())
        # The victim: the daemon whose mailboxes have the most mail still to store.
        victim = max(trio, key=lambda p: sum(PER_MAILBOX - done.get(m, 0) for m in held.get(p.pid, ())))
        orphans = held.get(victim.pid, set())
        assert orphans, held
        left_in_orphans = sum(PER_MAILBOX - done.get(m, 0) for m in orphans)
        victim.kill()
        victim.wait(timeout=10)
        killed_at = time.monotonic()
        stored_at_kill = stored_count(engine)
        survivors = [p for p in trio if p is not victim]

        def survivors_hold_orphans() -> bool:
            now_held = held_by_pid(engine)
            return orphans <= set().union(*(now_held.get(p.pid, set()) for p in survivors))

        assert wait_until(survivors_hold_orphans, timeout=3 * LEASE, interval=0.1)
        moved_after = time.monotonic() - killed_at
        assert moved_after <= LEASE + BEAT + 2, f"the leases moved after {moved_after:.1f}s"

        assert wait_until(lambda: stored(engine) == expected, timeout=SETTLE, interval=0.5)
        claimed_by_the_dead = expire_dead_claims(engine)
        resends = assert_all_done(engine, dovecot, sink, folders, expected, per_folder)
        finished = time.monotonic() - started
        assert resends <= claimed_by_the_dead, "only mail the killed daemon had claimed may go out twice"
        assert stop_cleanly(survivors) == [0, 0]
    print(
        f"\n2000 messages, 3 daemons: killed pid {victim.pid} holding {sorted(orphans)} ({left_in_orphans} of its "
        f"mail not stored yet) at {stored_at_kill} stored; its leases moved after {moved_after:.1f}s "
        f"(lease_seconds={LEASE}); all stored, flagged and answered {finished:.1f}s after the start; "
        f"mails it had claimed and not recorded: {claimed_by_the_dead}, sent again identically: {resends}"
    )


# 2. PostgreSQL restarted under load; `mailbridge ingest` exits 75 while it is down.


def run_ingest(config: Path, raw: bytes) -> subprocess.CompletedProcess:
    """`mailbridge ingest` as an MTA runs it: the message on stdin, the exit code is what counts."""
    command = [sys.executable, "-m", "mailbridge", "--config", str(config), "ingest"]
    return subprocess.run(command, input=raw, capture_output=True, env=dict(os.environ), cwd=REPO, timeout=120)


def test_postgresql_restarted_under_load_loses_and_doubles_nothing_and_ingest_asks_the_mta_to_retry(
    config_file, own_postgres, dovecot, sink, mailbox, tmp_path
):
    per_mailbox = 80  # the issue names no count: enough that the restart lands mid-sync (asserted below)
    config, engine, folders = fleet_setup(config_file, own_postgres, dovecot, mailbox, "faults_pg_restart", 3)
    expected, per_folder = Counter(), Counter()
    for name, folder in folders.items():
        expected.update(append(dovecot, folder, f"{name}-", per_mailbox))
        per_folder[folder] = per_mailbox
    piped = customer_mail(sender="piped@example.org", subject="Sent through the MTA while the database was down")
    piped_id = message_from_bytes(piped)["Message-ID"]
    with daemons(config, tmp_path, 3) as trio:
        assert wait_until(lambda: stored_count(engine) >= len(expected) // 4, timeout=90, interval=0.1)
        stored_at_stop = stored_count(engine)
        own_postgres.stop()
        down_at = time.monotonic()
        assert stored_at_stop < len(expected), "the restart must land in the middle of the sync"
        refused = run_ingest(config, piped)
        assert refused.returncode == 75, refused.stderr
        [line] = refused.stderr.decode().strip().splitlines()
        assert line.startswith("mailbridge: error: ") and "retry" in line, line
        # Down for longer than a lease: every lease has expired when the database is back, and each daemon saw the
        # outage (a failed poll, lease round or delivery).
        assert wait_until(lambda: every_log_has(tmp_path, 3, "OperationalError"), timeout=30)
        time.sleep(max(0.0, LEASE - (time.monotonic() - down_at)))
        own_postgres.start()
        down_for = time.monotonic() - down_at
        assert all(p.poll() is None for p in trio), "a daemon died with the database"

        # The MTA retries: stored now, and once however often it retries.
        retried_at = time.monotonic()
        again = run_ingest(config, piped)
        retry_took = time.monotonic() - retried_at
        assert again.returncode == 0, again.stderr
        assert run_ingest(config, piped).stdout.startswith(b"already stored")
        expected[piped_id] += 1

        started_again = time.monotonic()
        assert wait_until(lambda: stored(engine) == expected, timeout=SETTLE, interval=0.5)
        claimed_when_down = expire_dead_claims(engine)
        resends = assert_all_done(engine, dovecot, sink, folders, expected, per_folder)
        assert resends <= claimed_when_down, "only mail claimed by a delivery pass the outage ended may go out twice"
        finished = time.monotonic() - started_again
        # Every mailbox is held again (a lease may be between two daemons at one instant: a daemon that found its
        # lease lost gives the mailbox up and the next lease round takes it).
        assert wait_until(
            lambda: set().union(*held_by_pid(engine).values()) == set(folders), timeout=3 * LEASE, interval=0.5
        ), "the daemons took their leases again"
        assert stop_cleanly(trio) == [0, 0, 0]
    print(
        f"\nPostgreSQL down for {down_for:.1f}s under 3 daemons and {len(expected)} messages: ingest exited 75 while "
        f"down, 0 after (in {retry_took:.1f}s); everything done {finished:.1f}s after the restart; mails claimed by passes the outage "
        f"ended: {claimed_when_down}, sent again identically: {resends}"
    )


# 3. Dovecot frozen (SIGSTOP) during IDLE, stopped during a sync, and a folder recreated with a new UIDVALIDITY.


def deliver_to_maildir(dovecot, folder: str, tag: str, count: int) -> list[str]:
    """Drop mail straight into the folder's Maildir `new/` (as a local delivery agent does, while Dovecot does not
    answer); Dovecot gives it UIDs at its next look. Return the Message-IDs."""
    new = dovecot.base_dir / "mail" / SUPPORT_USER / "Maildir" / f".{folder}" / "new"
    ids = []
    for n in range(count):
        raw = customer_mail(sender=f"{tag}{n}@example.org", subject=f"{tag} order {n}")
        path = new / f"{time.time_ns()}.P{os.getpid()}Q{n}.test"
        path.write_bytes(raw)
        os.chown(path, 65534, 65534)
        ids.append(message_from_bytes(raw)["Message-ID"])
    return ids


def test_dovecot_frozen_during_idle_then_back_everything_stored_once_and_marked(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    config, engine, folders = fleet_setup(config_file, postgres, dovecot, mailbox, "faults_dovecot_idle", 3)
    expected, per_folder = Counter(), Counter()
    for name, folder in folders.items():
        expected.update(append(dovecot, folder, f"{name}-", 5))
        per_folder[folder] = 5
    with daemons(config, tmp_path, 2) as pair:
        assert_all_done(engine, dovecot, sink, folders, expected, per_folder)
        # IDLE runs on every folder: the watcher of each asks for a poll once it idles, and the polls are done.
        assert wait_until(lambda: sum(map(len, held_by_pid(engine).values())) == 3, timeout=3 * LEASE)
        dovecot.freeze()
        frozen_at = time.monotonic()
        try:
            for name, folder in folders.items():
                expected.update(deliver_to_maildir(dovecot, folder, f"frozen-{name}-", 4))
                per_folder[folder] += 4
            # Each daemon finds the server hung: its polls time out (timeout_seconds = 5).
            assert wait_until(lambda: every_log_has(tmp_path, 2, "poll failed"), timeout=60)
        finally:
            dovecot.thaw()
        frozen_for = time.monotonic() - frozen_at
        thawed_at = time.monotonic()
        resends = assert_all_done(engine, dovecot, sink, folders, expected, per_folder)
        caught_up = time.monotonic() - thawed_at
        # And IDLE works again: new mail is stored without waiting for a failure's backoff.
        for name, folder in folders.items():
            expected.update(append(dovecot, folder, f"after-{name}-", 2))
            per_folder[folder] += 2
        appended_at = time.monotonic()
        assert_all_done(engine, dovecot, sink, folders, expected, per_folder)
        after = time.monotonic() - appended_at
        assert stop_cleanly(pair) == [0, 0]
    print(
        f"\nDovecot frozen {frozen_for:.1f}s under 2 daemons (12 mails delivered meanwhile): caught up "
        f"{caught_up:.1f}s after the thaw; new mail after that stored in {after:.1f}s; identical resends: {resends}"
    )


def test_dovecot_stopped_during_a_sync_then_started_everything_stored_once_and_marked(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    # The issue names no count: enough that the stop lands mid-sync (asserted below) on a fast machine too. Each
    # daemon commits 50 at a time (FETCH_BATCH); the stop comes at the first commit, SIGTERM takes under a second.
    per_mailbox = 300
    config, engine, folders = fleet_setup(config_file, postgres, dovecot, mailbox, "faults_dovecot_stop", 3)
    expected, per_folder = Counter(), Counter()
    for name, folder in folders.items():
        expected.update(append(dovecot, folder, f"{name}-", per_mailbox))
        per_folder[folder] = per_mailbox
    with daemons(config, tmp_path, 3) as trio:
        assert wait_until(lambda: stored_count(engine) > 0, timeout=90, interval=0.05)
        dovecot.stop()
        stopped_at = time.monotonic()
        stored_at_stop = stored_count(engine)
        try:
            assert stored_at_stop < len(expected), "the stop must land in the middle of the sync"
            assert wait_until(lambda: every_log_has(tmp_path, 3, "poll failed"), timeout=60)
        finally:
            dovecot.start()
        down_for = time.monotonic() - stopped_at
        started_at = time.monotonic()
        resends = assert_all_done(engine, dovecot, sink, folders, expected, per_folder)
        caught_up = time.monotonic() - started_at
        assert stop_cleanly(trio) == [0, 0, 0]
    print(
        f"\nDovecot stopped {down_for:.1f}s with {stored_at_stop} of {len(expected)} stored (3 daemons): caught up "
        f"{caught_up:.1f}s after its start; identical resends: {resends}"
    )


def recreate_folder(dovecot, folder: str, raws: list[bytes]) -> bool:
    """Delete the folder and create it again holding `raws` (unflagged, under new UIDs); False when Dovecot refused
    a step because a daemon's session had the folder open ("Mailbox was deleted under us"): then try again."""
    try:
        with dovecot.client(SUPPORT_USER) as client:
            if client.folder_exists(folder):
                client.delete_folder(folder)
            client.create_folder(folder)
            for raw in raws:
                client.append(folder, raw)
    except IMAPClientError as exc:
        if "deleted under us" not in str(exc):
            raise
        return False
    return True


def uidvalidity_of(dovecot, folder: str) -> int:
    with dovecot.client(SUPPORT_USER) as client:
        return client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"]


def test_folder_recreated_with_a_new_uidvalidity_holding_the_same_mail_stores_nothing_twice(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    config, engine, folders = fleet_setup(config_file, postgres, dovecot, mailbox, "faults_uidvalidity", 2)
    expected, per_folder = Counter(), Counter()
    for name, folder in folders.items():
        expected.update(append(dovecot, folder, f"{name}-", 10))
        per_folder[folder] = 10
    with daemons(config, tmp_path, 2) as pair:
        assert_all_done(engine, dovecot, sink, folders, expected, per_folder)
        folder = folders["support"]
        before = uidvalidity_of(dovecot, folder)
        raws = dovecot.messages(SUPPORT_USER, folder)
        assert wait_until(lambda: recreate_folder(dovecot, folder, raws), timeout=30, interval=0.5)
        after = uidvalidity_of(dovecot, folder)
        assert after != before
        expected.update(append(dovecot, folder, "new-", 1))
        per_folder[folder] += 1
        assert wait_until(lambda: "uidvalidity changed mailbox=support" in logs(tmp_path), timeout=30)
        resends = assert_all_done(engine, dovecot, sink, folders, expected, per_folder)
        with engine.connect() as connection:
            keys = connection.execute(
                text("SELECT uidvalidity, count(*) FROM message WHERE mailbox = 'support' GROUP BY uidvalidity")
            ).all()
        assert stop_cleanly(pair) == [0, 0]
    assert sorted(keys) == sorted([(before, 10), (after, 1)]), keys
    assert resends == 0
    print(f"\nUIDVALIDITY {before} -> {after}: the 10 copies were found stored by their raw bytes and only flagged")


# 4. SMTP refusing (4xx) for a while, then one recipient refused for good (5xx).


def test_smtp_refusing_for_a_while_then_one_recipient_5xx_delivers_all_once_and_holds_that_one(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    config, engine, folders = fleet_setup(config_file, postgres, dovecot, mailbox, "faults_smtp", 2)
    expected, per_folder = Counter(), Counter()
    for name, folder in folders.items():
        expected.update(append(dovecot, folder, f"{name}-", 10))
        per_folder[folder] = 10
    refused_address = "box2-3@example.org"
    sink.refuse("MAIL", 451, "4.3.2 System not accepting network messages")
    with daemons(config, tmp_path, 2) as pair:
        assert wait_until(lambda: stored(engine) == expected, timeout=60, interval=0.2)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT count(*) FROM outboxmail")).scalar_one()
        assert rows == len(expected)

        def attempted() -> int:
            with engine.connect() as connection:
                return connection.execute(
                    text("SELECT count(*) FROM outboxmail WHERE attempts >= 1 AND status = 'queued'")
                ).scalar_one()

        assert wait_until(lambda: attempted() == rows, timeout=60, interval=0.2), "every mail tried and refused"
        assert not sink.messages
        refusals = sink.refused
        sink.stop_refusing()
        sink.refuse_recipient(refused_address, 550, "5.1.1 User unknown")
        # The first retry is due a minute after the refusal: let that minute pass in the database.
        with engine.begin() as connection:
            connection.execute(text("UPDATE outboxmail SET next_attempt_at = next_attempt_at - interval '2 minutes'"))
        with engine.connect() as connection:
            refused_id = connection.execute(
                text("SELECT message_id FROM message WHERE from_addr = :a"), {"a": refused_address}
            ).scalar_one()
        delivered = expected - Counter([refused_id])

        def held_row():
            with engine.connect() as connection:
                return connection.execute(
                    text("SELECT id, status, attempts, last_error FROM outboxmail WHERE rcpt_to = :a"),
                    {"a": refused_address},
                ).one()

        assert wait_until(lambda: receipts_arrived(sink, delivered), timeout=60, interval=0.2)
        assert wait_until(lambda: held_row().status == "held", timeout=30, interval=0.2)
        resends = count_resends(sink, delivered)
        outbox_id, _status, attempts, last_error = held_row()
        assert last_error.startswith("550 5.1.1 User unknown"), last_error
        listed = run_cli("outbox", "list", config=config)
        assert listed.returncode == 0, listed.stderr
        assert f"{outbox_id}" in listed.stdout and "held" in listed.stdout and "550 5.1.1" in listed.stdout
        shown = run_cli("status", config=config)
        assert shown.returncode == 0, shown.stderr
        assert "held" in shown.stdout, shown.stdout
        for folder in folders.values():
            assert all_seen(dovecot, folder, per_folder[folder])
        assert stop_cleanly(pair) == [0, 0]
    assert resends == 0
    print(
        f"\nSMTP 451 for every MAIL: {refusals} refusals of {rows} mails; then delivered {len(delivered)} once each; "
        f"{refused_address} refused with 550 after {attempts} attempts, held (outbox {outbox_id})"
    )


# 5. The disk of the raw-mail store full while storing.


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 2 MB tmpfs for the data directory, unmounted after the test; skipped where mounting is not permitted."""
    where = tmp_path / "data"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(where)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for the full-disk test (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def intake_failures(engine) -> list[int]:
    """The failures counted for each message intake could not store."""
    with engine.connect() as connection:
        return [n for (n,) in connection.execute(text("SELECT failures FROM intakefailure"))]


def fill(directory: Path, leave_bytes: int) -> Path:
    """Fill the filesystem of `directory` with one file until about `leave_bytes` are free."""
    filler = directory / "filler"
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(free - leave_bytes, 0))
    return filler


def test_full_disk_while_storing_leaves_the_mail_unmarked_and_stores_it_once_when_space_is_freed(
    config_file, postgres, dovecot, sink, mailbox, tmp_path, small_disk
):
    fleet = FLEET.replace("[ingest]\n", f'[ingest]\ndata_dir = "{small_disk}"\nraw_file_threshold_bytes = 65536\n')
    config, engine, folders = fleet_setup(config_file, postgres, dovecot, mailbox, "faults_disk_full", 2, fleet=fleet)
    filler = fill(small_disk, 100_000)
    big_body = "A long complaint about my order, with every detail of it.\n" * 6000  # about 350 kB
    expected, big, per_folder = Counter(), Counter(), Counter()
    with daemons(config, tmp_path, 2) as pair:
        for name, folder in folders.items():
            expected.update(append(dovecot, folder, f"{name}-small-", 3))
            ids = append(dovecot, folder, f"{name}-big-", 1, body=big_body)
            big.update(ids)
            expected.update(ids)
            expected.update(append(dovecot, folder, f"{name}-after-", 2))
            per_folder[folder] = 6
        small = expected - big
        assert wait_until(lambda: stored(engine) == small, timeout=60, interval=0.2), stored(engine)
        assert wait_until(lambda: "No space left on device" in logs(tmp_path), timeout=30)
        # The big ones are neither stored nor marked; everything else is both.
        for folder in folders.values():
            flags = dovecot.flags(SUPPORT_USER, folder)
            assert sum("\\Seen" in f for f in flags.values()) == 5, flags
        assert wait_until(lambda: receipts_arrived(sink, small), timeout=30)
        assert not (set(big) & set(stored(engine)))
        # The disk stays full while the daemons try again, more often than the three failures after which mail that
        # breaks intake is quarantined: a full disk is not the message's fault, so nothing is counted against it and
        # the big mail must still become a ticket.
        refusals = "not stored, the disk refused it"
        assert wait_until(lambda: logs(tmp_path).count(refusals) >= 4 * len(big), timeout=SETTLE, interval=0.5)
        assert not (set(big) & set(stored(engine)))
        failures = intake_failures(engine)
        assert failures == []
        filler.unlink()
        freed_at = time.monotonic()
        resends = assert_all_done(engine, dovecot, sink, folders, expected, per_folder)
        stored_after = time.monotonic() - freed_at
        with engine.connect() as connection:
            files = connection.execute(text("SELECT count(*) FROM message WHERE raw_path IS NOT NULL")).scalar_one()
        assert stop_cleanly(pair) == [0, 0]
    assert files == len(big)
    print(
        f"\nraw store full (2 MB tmpfs): {len(small)} small mails stored and marked, {len(big)} big ones left "
        f"unmarked ({logs(tmp_path).count('not stored, the disk refused it')} refusals, no failure counted); stored {stored_after:.1f}s after space was freed; identical "
        f"resends: {resends}"
    )


# Daemons that start at the same moment on a new database both create the mailboxes' Contact.


def test_daemon_starting_while_another_creates_the_same_contact_uses_that_contact(
    config_file, postgres, dovecot, sink, mailbox, clock
):
    config = config_file(db_url=postgres.create_database("faults_contact_race"))
    settings = load_settings(config)
    engine = db.make_engine(settings.database.url)
    # The other daemon's transaction has inserted the Contact and not committed yet.
    other = Session(engine)
    other.add(Contact(name="Customer service", email=SUPPORT_USER, created_at=clock.now()))
    other.flush()
    built: list = []
    starting = threading.Thread(target=lambda: built.append(build_app(settings, clock=clock)), name="starting")
    starting.start()
    try:
        # This one's INSERT of the same Contact waits on the other's row, which then commits.
        assert wait_until(lambda: waiting_on_a_lock(engine) == 1, timeout=20)
        other.commit()
        contact_id = other.exec(select(Contact.id)).one()
    finally:
        other.close()
        starting.join(timeout=20)
    [app] = built  # it failed on the unique key and ended the daemon before
    assert app.contact_ids == {"Customer service": contact_id}


def waiting_on_a_lock(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


# A mailbox whose loops ended on a lost lease, kept by the next lease round, then given up to a daemon that joined.


def test_mailbox_given_up_after_its_loops_ended_on_a_lost_lease_is_released(
    config_file, postgres, dovecot, sink, mailbox
):
    """After a database outage a daemon's polls find their leases expired (their loops end), its first round back
    keeps the leases while it is the only live daemon, and once another lives it gives one up: with no loops left to
    stop, it used to renew that lease for ever while nobody polled the mailbox."""
    dovecot.create_folder(SUPPORT_USER, f"{mailbox}x2")
    url = postgres.create_database("faults_release")
    settings = load_settings(config_file(db_url=url, extra=other_mailbox(dovecot, "box2", f"{mailbox}x2") + FLEET))
    app = build_app(settings)
    engine = app.engine

    def holder(name: str) -> str | None:
        with engine.connect() as connection:
            return connection.execute(
                text("SELECT holder FROM mailboxlease WHERE mailbox = :m"), {"m": name}
            ).scalar_one()

    async def scenario() -> None:
        daemon = Daemon(app, fleet=Fleet(engine, ["support", "box2"], lease_seconds=60))
        daemon._loop, daemon._stopping = asyncio.get_running_loop(), asyncio.Event()
        daemon._wakes = {name: asyncio.Event() for name in ("support", "box2")}
        await daemon._fleet_call(daemon.fleet.join)
        app.fence_for = daemon.fleet.fence
        try:
            await daemon._lease_round()  # alone: it polls both
            assert daemon.held == {"support", "box2"}
            # box2's lease runs out unrenewed (the database was away); its next poll, of new mail, finds that before it
            # commits, and its loops end.
            with engine.begin() as connection:
                connection.execute(text("UPDATE mailboxlease SET expires_at = now() - interval '1 second'"))
            run = daemon._mailbox_runs["box2"]
            await asyncio.to_thread(dovecot.append, SUPPORT_USER, f"{mailbox}x2", customer_mail())
            daemon._wakes["box2"].set()
            await asyncio.wait_for(run.ended.wait(), timeout=30)
            await daemon._lease_round()  # still alone: it keeps both leases, and stops box2's ended loops
            await asyncio.wait_for(asyncio.shield(run.closing), timeout=30)
            other = Fleet(engine, ["support", "box2"], lease_seconds=60)
            await asyncio.to_thread(other.join)
            await daemon._lease_round()  # two live daemons: one mailbox each, box2 is given up
            assert holder("box2") is None, "box2 is kept and renewed, and nobody polls it"
            # It took a lease: its next round comes soon (the fleet settles).
            assert await asyncio.to_thread(other.lease_round) == LeaseRound(frozenset({"box2"}), frozenset(), False)
        finally:
            daemon._stopping.set()
            runs = list(daemon._mailbox_runs.values())
            await asyncio.gather(*(t for r in runs for t in r.tasks), return_exceptions=True)
            await asyncio.to_thread(lambda: [w.join(timeout=5) for w in daemon.watchers])
            daemon._fleet_thread.shutdown(wait=False)

    asyncio.run(scenario())
