"""The lock that keeps `mailbridge run` processes apart on one SQLite file: `DATABASE.daemon-lock`, held with
flock(2) by the daemon for its whole run and by `run --once` for its cycle.

SQLite has no leases between processes (those are for PostgreSQL, runtime/fleet.py): a second daemon, or a
`run --once` beside a daemon, is refused with one line naming the lock and its holder. The kernel drops the lock
when its process ends, however it ends, so a crash never leaves a stale lock. Standard library only: the idle
`run --once` (runtime/idle_cycle.py) takes it without loading the ORM.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from mailbridge.base.errors import ConfigError
from mailbridge.store.reader import sqlite_path

REFUSED = {
    "daemon": "one daemon per SQLite file (several daemons need PostgreSQL)",
    "once": "`run --once` does not run beside it on a SQLite file (several processes need PostgreSQL)",
}


@contextmanager
def run_lock(url: str, role: str) -> Iterator[None]:
    """On SQLite, hold `DATABASE.daemon-lock` while this `mailbridge run` runs (`role`: "daemon" or "once");
    elsewhere (PostgreSQL, SQLite in memory) do nothing.

    Raises: ConfigError when another `mailbridge run` holds it.
    """
    database = sqlite_path(url)
    if database is None:
        yield
        return
    path = f"{database}.daemon-lock"
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:  # no folder for the database file: opening the database says so in its own words
        yield
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 100, 0).decode(errors="replace").strip() or "another process"
            raise ConfigError(f"another `mailbridge run` ({holder}) holds {path}: {REFUSED[role]}") from None
        os.ftruncate(descriptor, 0)
        what = "" if role == "daemon" else ", --once"
        os.pwrite(descriptor, f"pid {os.getpid()} on {socket.gethostname()}{what}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)
