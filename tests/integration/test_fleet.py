"""Several daemons on one PostgreSQL (issue 18), as real `mailbridge run` processes against Dovecot and the SMTP sink.

Each mailbox is polled by exactly one daemon (a lease in the database), the mailboxes spread over the daemons, a
killed daemon's mailboxes move to the survivor within the lease, and a daemon frozen past its lease (SIGSTOP) stores
and marks nothing when it wakes. On SQLite a second daemon is refused with one line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import text

from mailbridge.decisions.leases import FORGET_AFTER_LEASES
from mailbridge.runtime.daemon import TIMERS
from mailbridge.runtime.run_lock import run_lock
from mailbridge.store import db
from mailbridge.store.reader import open_reader
from tests.conftest import SUPPORT_USER, run_cli, run_cli_process
from tests.integration.fleet_processes import (
    BEAT,
    LEASE,
    all_seen,
    append,
    daemons,
    fleet_setup,
    fleet_toml,
    held_by_pid,
    other_mailbox,
    receipts,
    stop_cleanly,
    stored,
    stored_in,
)
from tests.servers.util import wait_until

PER_MAILBOX = 10  # the issue names no count: mail in every mailbox while the leases spread, move and are fenced


def test_two_daemons_share_the_mailboxes_and_the_survivor_of_a_kill_takes_them_over(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    config, engine, folders = fleet_setup(config_file, postgres, dovecot, mailbox, "fleet_share", 4)
    expected = Counter()
    for name, folder in folders.items():
        expected.update(append(dovecot, folder, f"{name}-", PER_MAILBOX))

    with daemons(config, tmp_path, 2) as (first, second):
        # Both hold two mailboxes (the first to start held all four and gives two up once the second lives).
        assert wait_until(lambda: sorted(map(len, held_by_pid(engine).values())) == [2, 2], timeout=6 * LEASE)
        held = held_by_pid(engine)
        assert set(held) == {first.pid, second.pid}
        assert set.union(*held.values()) == set(folders)
        assert wait_until(lambda: stored(engine) == expected, timeout=60), "every message stored once"
        assert wait_until(lambda: all(all_seen(dovecot, f, PER_MAILBOX) for f in folders.values()), timeout=20)
        assert wait_until(lambda: receipts(sink) == expected, timeout=30), "every receipt sent once"

        shown = run_cli("status", config=config)
        assert shown.returncode == 0, shown.stderr
        for pid, boxes in held.items():
            assert f"pid {pid}: running since " in shown.stdout, shown.stdout
            assert f"  holds {', '.join(sorted(boxes))} (instance " in shown.stdout, shown.stdout
        as_json = json.loads(run_cli("status", "--json", config=config).stdout)
        assert sorted(d["pid"] for d in as_json["daemons"]) == sorted(held)

        # SIGKILL the first: its leases are taken over once they expire, within lease_seconds and a beat.
        orphans = held[first.pid]
        first.kill()
        first.wait(timeout=10)
        killed_at = time.monotonic()
        assert wait_until(lambda: held_by_pid(engine).get(second.pid) == set(folders), timeout=3 * LEASE)
        moved_after = time.monotonic() - killed_at
        assert moved_after <= LEASE + BEAT + 1.5, f"the leases moved after {moved_after:.1f}s"
        print(f"leases of the killed daemon moved after {moved_after:.1f}s (lease_seconds={LEASE})")

        for name in sorted(orphans):
            expected.update(append(dovecot, folders[name], f"after-{name}-", 3))
        assert wait_until(lambda: stored(engine) == expected, timeout=30)
        assert wait_until(lambda: receipts(sink) == expected, timeout=30)
        for name in orphans:
            assert wait_until(lambda name=name: all_seen(dovecot, folders[name], PER_MAILBOX + 3), timeout=20)

        # A clean stop removes the daemon's row and frees its leases.
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM mailboxlease WHERE holder IS NOT NULL")).scalar_one() == 0
        pids = [r[0] for r in connection.execute(text("SELECT pid FROM daemon"))]
    assert pids == [first.pid], "the killed daemon's row stays (until the others forget it); the stopped one's is gone"
    assert stored(engine) == expected and receipts(sink) == expected

    # With no daemon left to forget it, `status` shows the killed one as stopped, `status --check` says what removes
    # its row, and any `mailbridge run` does once it has been silent for FORGET_AFTER_LEASES leases (aged here).
    shown = run_cli("status", config=config).stdout
    assert f"pid {first.pid}: stopped (hung, or killed without leaving)" in shown, shown
    warned = run_cli("status", "--check", config=config)
    assert warned.returncode == 1 and f"pid {first.pid} silent for " in warned.stdout, warned.stdout
    assert "the next `mailbridge run` or `run --once` removes its row" in warned.stdout, warned.stdout
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE daemon SET last_beat_at = last_beat_at - :aged"),
            {"aged": timedelta(seconds=FORGET_AFTER_LEASES * LEASE)},
        )
    once = run_cli_process("run", "--once", config=config)
    assert once.returncode == 0, once.stderr
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM daemon")).scalar_one() == 0
    assert f"pid {first.pid}" not in run_cli("status", "--check", config=config).stdout


def test_daemons_started_together_spread_the_mailboxes_within_seconds_not_beats(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    # lease_seconds 60: a lease round every 5 s once settled. Whichever daemon plans first takes all four mailboxes;
    # quick rounds while the fleet settles let it see the other and give two up, and the other take them, within a
    # couple of seconds (with rounds only every beat the second daemon stayed idle for one or two beats: 5-10 s).
    config, engine, folders = fleet_setup(
        config_file, postgres, dovecot, mailbox, "fleet_settle", 4, fleet=fleet_toml(lease=60)
    )
    with daemons(config, tmp_path, 2) as (first, second):
        assert wait_until(lambda: daemon_rows(engine) == 2, timeout=30)
        joined = time.monotonic()
        assert wait_until(lambda: sorted(map(len, held_by_pid(engine).values())) == [2, 2], timeout=30)
        spread_after = time.monotonic() - joined
        print(f"four mailboxes spread over two daemons {spread_after:.1f}s after both joined (beat 5 s)")
        assert spread_after < 4.5, f"spread after {spread_after:.1f}s"
        assert set.union(*held_by_pid(engine).values()) == set(folders)
        assert stop_cleanly([first, second]) == [0, 0]


def test_daemons_joining_one_by_one_and_one_leaving_respread_within_seconds_and_store_each_mail_once(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    # Three mailboxes, lease_seconds 60 (a round every 5 s once settled). A second daemon joins a settled one, then a
    # third, then the second stops cleanly: after each change the shares are 3, 2+1, 1+1+1, 2+1 within a beat and a
    # few quick rounds (a settled daemon sees the change at its next round, at most a beat later), and mail appended
    # meanwhile is stored, marked and answered once each. (Three, not more: each held mailbox keeps an IDLE connection
    # to the one test account and opens another to fetch, and Dovecot allows ten per user and IP by default.)
    within = 5 + 2.5
    config, engine, folders = fleet_setup(
        config_file, postgres, dovecot, mailbox, "fleet_join", 3, fleet=fleet_toml(lease=60)
    )
    expected = Counter()

    def add_mail(tag: str) -> None:
        for name, folder in folders.items():
            expected.update(append(dovecot, folder, f"{tag}-{name}-", 2))

    def spread_within(shares: list[int], seconds: float, event: str, since: float | None = None) -> None:
        since = time.monotonic() if since is None else since
        assert wait_until(lambda: sorted(map(len, held_by_pid(engine).values())) == shares, timeout=30)
        took = time.monotonic() - since
        print(f"{event}: shares {shares} after {took:.1f}s (beat 5 s)")
        assert took < seconds, f"{event}: shares {shares} after {took:.1f}s"
        assert set.union(*held_by_pid(engine).values()) == set(folders)

    with daemons(config, tmp_path, 1) as [first]:
        assert wait_until(lambda: daemon_rows(engine) == 1, timeout=30)
        spread_within([3], 4.5, "first daemon alone")
        add_mail("one")
        with daemons(config, tmp_path, 1, first=1) as [second]:
            assert wait_until(lambda: daemon_rows(engine) == 2, timeout=30)
            spread_within([1, 2], within, "second joined")
            add_mail("two")
            with daemons(config, tmp_path, 1, first=2) as [third]:
                assert wait_until(lambda: daemon_rows(engine) == 3, timeout=30)
                spread_within([1, 1, 1], within, "third joined")
                add_mail("three")
                stopping = time.monotonic()
                assert stop_cleanly([second]) == [0]
                spread_within([1, 2], within, "second left (from its SIGTERM)", since=stopping)
                add_mail("after")
                assert wait_until(lambda: stored(engine) == expected, timeout=60), "every message stored once"
                assert wait_until(lambda: receipts(sink) == expected, timeout=30), "every receipt sent once"
                per_folder = sum(expected.values()) // len(folders)
                assert wait_until(lambda: all(all_seen(dovecot, f, per_folder) for f in folders.values()), timeout=20)
                assert stop_cleanly([first, third]) == [0, 0]
    assert stored(engine) == expected and receipts(sink) == expected


def daemon_rows(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM daemon")).scalar_one()


def test_daemon_frozen_past_its_lease_stores_and_marks_nothing_when_it_wakes(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    config, engine, folders = fleet_setup(config_file, postgres, dovecot, mailbox, "fleet_frozen", 2)
    with daemons(config, tmp_path, 2) as (frozen, other):
        assert wait_until(lambda: sorted(map(len, held_by_pid(engine).values())) == [1, 1], timeout=6 * LEASE)
        [name] = held_by_pid(engine)[frozen.pid]
        folder = folders[name]

        os.kill(frozen.pid, signal.SIGSTOP)  # hung, not dead: its leases expire and the other takes them
        assert wait_until(lambda: held_by_pid(engine).get(other.pid) == set(folders), timeout=3 * LEASE)
        # Now freeze the new holder too, so nobody stores the mail below while its lease is still good; then wake
        # the first: it finds the mail on the server but must neither store nor mark it.
        os.kill(other.pid, signal.SIGSTOP)
        new_ids = append(dovecot, folder, "frozen-", 3)
        os.kill(frozen.pid, signal.SIGCONT)
        log = tmp_path / "daemon0.log"
        assert wait_until(lambda: f"stopped polling mailbox={name}" in log.read_text(errors="replace"), timeout=3)
        time.sleep(0.5)  # a poll that was in hand has ended by now
        assert stored_in(engine, name) == 0, "the woken daemon stored mail of a mailbox it no longer holds"
        assert not any("\\Seen" in f for f in dovecot.flags(SUPPORT_USER, folder).values()), "and marked it"
        assert held_by_pid(engine)[other.pid] >= {name}, "checked while the other still held the lease"
        os.kill(other.pid, signal.SIGCONT)

        # Whoever holds it from now on stores and marks each message once.
        assert wait_until(lambda: stored(engine) == Counter(new_ids), timeout=4 * LEASE)
        assert wait_until(lambda: all_seen(dovecot, folder, 3), timeout=20)
        assert wait_until(lambda: receipts(sink) == Counter(new_ids), timeout=30)
        for process in (frozen, other):
            process.send_signal(signal.SIGTERM)
        assert [process.wait(timeout=30) for process in (frozen, other)] == [0, 0]
    fenced = f"poll stopped mailbox={name}: lease of mailbox {name} lost" in log.read_text(errors="replace")
    print("the woken daemon", "polled and was fenced" if fenced else "stopped the loop before polling")


def test_second_daemon_on_one_sqlite_file_is_refused_with_one_line(config_file, dovecot, sink, mailbox, tmp_path):
    config = config_file()
    with daemons(config, tmp_path, 1) as [first]:
        assert wait_until(
            lambda: "daemon started" in (tmp_path / "daemon0.log").read_text(errors="replace"), timeout=30
        )
        second = run_cli_process("run", config=config)
        assert second.returncode != 0
        [line] = second.stderr.strip().splitlines()
        assert line.startswith("mailbridge: error: another `mailbridge run` (pid ") and "one daemon per SQLite" in line
        first.kill()
        first.wait(timeout=10)
    # The kernel dropped the dead daemon's lock: a new daemon starts (and stops cleanly).
    with daemons(config, tmp_path, 1) as [again]:
        assert wait_until(
            lambda: "daemon started" in (tmp_path / "daemon0.log").read_text(errors="replace"), timeout=30
        )
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=30) == 0


def test_run_once_beside_a_daemon_on_postgresql_polls_only_the_mailboxes_no_daemon_holds(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    # The daemon is configured with mailbox support alone; `run --once` with support and box2. A long lease keeps
    # support the daemon's while it is frozen below.
    url = postgres.create_database("fleet_once")
    fleet = fleet_toml(30)
    daemon_config = shutil.copy(config_file(db_url=url, extra=fleet), tmp_path / "daemon.toml")
    dovecot.create_folder(SUPPORT_USER, f"{mailbox}x2")
    config = config_file(db_url=url, extra=other_mailbox(dovecot, "box2", f"{mailbox}x2") + fleet)
    engine = db.make_engine(url)
    ids_b = append(dovecot, f"{mailbox}x2", "b-", 3)
    with daemons(daemon_config, tmp_path, 1) as [daemon]:
        # Frozen once it is settled (leases taken, timers seen, support polled: no transaction of its start left open
        # for the once run to wait on), it still holds support's lease: mail that arrives now is the daemon's.
        assert wait_until(lambda: held_by_pid(engine).get(daemon.pid) == {"support"} and settled(engine), timeout=30)
        os.kill(daemon.pid, signal.SIGSTOP)
        ids_a = append(dovecot, mailbox, "a-", 2)
        once = run_cli_process("run", "--once", config=config)
        assert once.returncode == 0, once.stderr
        skipped = f"mailbox support: held by daemon {socket.gethostname()}:{daemon.pid}, skipped"
        assert once.stdout.splitlines() == [
            "box2: fetched 3, stored 3, already stored 0, failed 0",
            skipped,
            ("outbox: sent 3, failed 0"),
        ], once.stdout
        assert stored(engine) == Counter(ids_b) and stored_in(engine, "support") == 0
        assert all_seen(dovecot, f"{mailbox}x2", 3)
        assert not any("\\Seen" in f for f in dovecot.flags(SUPPORT_USER, mailbox).values()), "support: unmarked"
        with engine.connect() as connection:
            leases = dict(connection.execute(text("SELECT mailbox, holder FROM mailboxlease")).all())
        assert leases["box2"] is None, "the once run released its lease"
        # --json names the skipped mailbox too (here the idle cycle answers: nothing new in box2, nothing due).
        report = json.loads(run_cli_process("run", "--once", "--json", config=config).stdout)
        rows = {row["mailbox"]: row for row in report["mailboxes"]}
        assert rows["support"]["skipped"] == f"held by daemon {socket.gethostname()}:{daemon.pid}"
        assert rows["support"]["ok"] and rows["support"]["fetched"] is None
        assert rows["box2"]["skipped"] is None and rows["box2"]["fetched"] == 0
        os.kill(daemon.pid, signal.SIGCONT)
        assert wait_until(lambda: stored(engine) == Counter(ids_a + ids_b), timeout=30)
        assert wait_until(lambda: receipts(sink) == Counter(ids_a + ids_b), timeout=30), "every receipt once"
        assert stop_cleanly([daemon]) == [0]


def test_run_once_beside_a_daemon_on_sqlite_is_refused_and_a_daemon_beside_run_once_too(
    config_file, dovecot, sink, mailbox, tmp_path
):
    config = config_file()
    database = tmp_path / "mailbridge.db"
    with daemons(config, tmp_path, 1) as [daemon]:
        log = tmp_path / "daemon0.log"
        assert wait_until(lambda: "daemon started" in log.read_text(errors="replace"), timeout=30)
        os.kill(daemon.pid, signal.SIGSTOP)  # it holds the lock, and stores nothing the once run could be blamed for
        append(dovecot, mailbox, "sqlite-", 2)
        refused = run_cli_process("run", "--once", config=config)
        assert messages_in(database) == 0, "the refused run stored nothing"
        os.kill(daemon.pid, signal.SIGCONT)
        assert refused.returncode == 2 and refused.stdout == ""
        [line] = refused.stderr.strip().splitlines()
        assert line == (
            f"mailbridge: error: another `mailbridge run` (pid {daemon.pid} on {socket.gethostname()}) holds "
            f"{database}.daemon-lock: `run --once` does not run beside it on a SQLite file (several processes need "
            "PostgreSQL)"
        )
        assert stop_cleanly([daemon]) == [0]
    # `run --once` holds the same lock for its cycle (runtime/run_lock.py, as run_cmd takes it): a daemon is refused.
    with run_lock(f"sqlite:///{database}", "once"):
        second = run_cli_process("run", config=config)
    assert second.returncode == 2
    [line] = second.stderr.strip().splitlines()
    assert f"(pid {os.getpid()} on {socket.gethostname()}, --once) holds {database}.daemon-lock: one daemon" in line


def messages_in(database) -> int:
    reader = open_reader(f"sqlite:///{database}")
    try:
        return reader.first("SELECT count(*) AS n FROM message")["n"]
    finally:
        reader.close()


def settled(engine) -> bool:
    """The daemon has seen both timers and finished its first poll of support."""
    with engine.connect() as connection:
        timers = connection.execute(text("SELECT count(*) FROM timerdue")).scalar_one()
        polled = connection.execute(
            text("SELECT count(*) FROM mailboxhealth WHERE mailbox = 'support' AND last_success_at IS NOT NULL")
        ).scalar_one()
    return timers >= len(TIMERS) and polled == 1
