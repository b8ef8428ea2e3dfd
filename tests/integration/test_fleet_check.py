"""`status --check` judges the daemons of a fleet (issue 18), against real `mailbridge run` processes on PostgreSQL.

A daemon frozen with SIGSTOP past its lease is a WARNING naming its host and pid, and the check is OK again once it
beats after SIGCONT; a mailbox the configuration lists but no running daemon polls is a WARNING too.
"""

from __future__ import annotations

import os
import signal
import socket

from tests.conftest import SUPPORT_USER, run_cli
from tests.integration.fleet_processes import daemons, fleet_setup, fleet_toml, held_by_pid, other_mailbox, stop_cleanly
from tests.servers.util import wait_until

LEASE = 3  # seconds, the shortest allowed: no mail to store here, so the daemons beat on time


def check(config) -> tuple[int, str]:
    result = run_cli("status", "--check", config=config)
    return result.returncode, result.stdout.strip()


def test_check_warns_of_a_daemon_frozen_past_its_lease_and_is_ok_once_it_beats_again(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    config, engine, _folders = fleet_setup(
        config_file, postgres, dovecot, mailbox, "fleet_check_frozen", 2, fleet=fleet_toml(LEASE)
    )
    with daemons(config, tmp_path, 2) as (frozen, other):
        assert wait_until(lambda: sorted(map(len, held_by_pid(engine).values())) == [1, 1], timeout=40)
        # Both mailboxes synced, both daemons beating: nothing to say.
        assert wait_until(lambda: check(config)[0] == 0, timeout=40, interval=0.5), check(config)
        assert check(config)[1].startswith("MAILBRIDGE OK - 2 mailboxes syncing")

        os.kill(frozen.pid, signal.SIGSTOP)  # hung, not dead: its row stays, its beat ages
        named = f"daemon {socket.gethostname()} pid {frozen.pid} silent for "
        assert wait_until(lambda: named in check(config)[1], timeout=20, interval=0.5), check(config)
        state, line = check(config)
        assert state == 1 and line.startswith(f"MAILBRIDGE WARNING - {named}"), line
        assert f"past its lease of {LEASE}s: hung, or killed without leaving" in line
        assert f"pid {other.pid}" not in line, "the daemon that beats is not named"
        # The other daemon took the frozen one's mailbox over within the lease: no mailbox is left without a holder.
        assert wait_until(lambda: len(held_by_pid(engine).get(other.pid, ())) == 2, timeout=20)
        assert "held by no daemon" not in check(config)[1]

        os.kill(frozen.pid, signal.SIGCONT)
        assert wait_until(lambda: check(config)[0] == 0, timeout=20, interval=0.5), check(config)
        assert check(config)[1].startswith("MAILBRIDGE OK - ")
        assert stop_cleanly([frozen, other]) == [0, 0]


def test_check_warns_of_a_listed_mailbox_no_running_daemon_holds(
    config_file, postgres, dovecot, sink, mailbox, tmp_path
):
    config, engine, folders = fleet_setup(
        config_file, postgres, dovecot, mailbox, "fleet_check_unheld", 1, fleet=fleet_toml(LEASE)
    )
    with daemons(config, tmp_path, 1) as [daemon]:
        assert wait_until(lambda: held_by_pid(engine).get(daemon.pid) == set(folders), timeout=40)
        assert wait_until(lambda: check(config)[0] == 0, timeout=40, interval=0.5), check(config)
        # `mailboxes add` without a restart: the check reads a configuration with a mailbox the daemon does not poll.
        dovecot.create_folder(SUPPORT_USER, f"{mailbox}new")
        added = tmp_path / "added.toml"
        added.write_text(config.read_text() + other_mailbox(dovecot, "added", f"{mailbox}new"), encoding="utf-8")
        named = "mailbox added held by no daemon for "
        assert wait_until(lambda: named in check(added)[1], timeout=20, interval=0.5), check(added)
        state, line = check(added)
        assert state == 1 and "while 1 daemon run" in line, line
        assert "mailbox support held by no daemon" not in line
        assert check(config)[0] == 0, "the daemon's own configuration is still OK"
        assert stop_cleanly([daemon]) == [0]
    # No daemon runs: a mailbox without a holder is no finding of its own (its sync age tells).
    assert "held by no daemon" not in check(added)[1]
