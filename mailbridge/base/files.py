"""Files mailbridge writes (health file, configuration, reports, the SQLite database) are private: 0600 whatever
the umask, because they hold customers' addresses and mail."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600


def write_private(path: Path, text: str) -> None:
    """Write text to path, created 0600 (an existing file is made 0600 too)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), PRIVATE)
        handle.write(text)


def replace_private(path: Path, text: str) -> None:
    """Write text to path atomically (a temporary file beside it, then a rename), 0600: a reader never sees half."""
    candidate = path.with_name(f".{path.name}.tmp")
    write_private(candidate, text)
    os.replace(candidate, path)


def create_private(path: Path) -> None:
    """Create an empty file 0600 unless it exists (the SQLite database, before SQLite creates it with the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    except FileExistsError:
        pass


def write_private_bytes(path: Path, data: bytes) -> None:
    """Write bytes to path, created 0600 (an existing file is made 0600 too)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), PRIVATE)
        handle.write(data)


def make_private_dir(path: Path) -> None:
    """Create a directory (and its parents) 0700 whatever the umask; an existing one is made 0700 too."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
