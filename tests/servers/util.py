"""Small helpers shared by the real-server starters in tests/servers/."""

from __future__ import annotations

import os
import socket
import stat
import time
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = HOST) -> bool:
    """Return True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll predicate until it returns true or timeout seconds pass; return its last result."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def log_tail(path: Path, lines: int = 30) -> str:
    """Return the last lines of a log file, or a note that it does not exist."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def pid_alive(pid: int) -> bool:
    """Return True while a process with this pid runs (exited and zombie processes count as gone)."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited already


def make_traversable(path: Path) -> None:
    """Add o+x to path and its ancestors so service users (nobody, postgres) can reach it.

    pytest's tmp dirs are 0700 root; this only allows traversal, not listing.
    """
    for part in [Path(path), *Path(path).parents]:
        mode = part.stat().st_mode
        if not mode & stat.S_IXOTH:
            part.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
