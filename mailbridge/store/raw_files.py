"""Store: raw mail too big for a database blob, kept as files under the data directory.

Intake asks `raw_columns` for the `raw` and `raw_path` of a message row it is about to insert: raw bytes over
the threshold are written to `<data dir>/raw/<sha256[:2]>/<sha256>` (directories 0700, files 0600) before the
commit, and the row keeps an empty blob and the file's path. The file is named by its content, so a commit
that is retried finds it in place, and a file whose commit never came is harmless. Every reader of a stored
message's raw bytes goes through `raw_bytes`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mailbridge.base.config.settings import Settings
from mailbridge.base.files import PRIVATE
from mailbridge.store.models import Message

PRIVATE_DIR = 0o700
RAW_DIR = "raw"


@dataclass(frozen=True)
class RawStore:
    """Where raw mail over `threshold_bytes` is kept as a file instead of a blob."""

    data_dir: Path
    threshold_bytes: int


def data_dir_of(settings: Settings) -> Path:
    """The data directory: `[ingest] data_dir`, else the SQLite database's directory, else the configuration's."""
    if settings.ingest.data_dir is not None:
        return settings.ingest.data_dir
    url = settings.database.url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url.removeprefix("sqlite:///")).parent
    return settings.path.parent


def raw_store_of(settings: Settings) -> RawStore:
    """The file store the configuration asks for."""
    return RawStore(data_dir_of(settings), settings.ingest.raw_file_threshold_bytes)


@dataclass(frozen=True)
class RawColumns:
    """The `raw` and `raw_path` of a message row: the bytes themselves, or an empty blob and a file's path."""

    raw: bytes
    path: str | None = None


def raw_columns(store: RawStore | None, raw: bytes, digest: str) -> RawColumns:
    """Keep raw bytes over the store's threshold as a file (written now, before the commit); else as the blob."""
    if store is None or len(raw) <= store.threshold_bytes:
        return RawColumns(raw)
    return RawColumns(b"", str(write_raw(store, raw, digest)))


def write_raw(store: RawStore, raw: bytes, digest: str) -> Path:
    """Write raw bytes to the file named by their SHA-256 (hex `digest`), 0600; a complete file is left as it is."""
    directory = store.data_dir / RAW_DIR / digest[:2]
    _private_dir(store.data_dir / RAW_DIR)
    _private_dir(directory)
    path = directory / digest
    try:
        if path.stat().st_size == len(raw):
            return path
    except FileNotFoundError:
        pass
    # Written beside it and renamed: a reader (or a crash) never sees half a file under the final name.
    partial = directory / f".{digest}.{os.getpid()}.tmp"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), PRIVATE)
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def _private_dir(path: Path) -> None:
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True)
    except FileExistsError:
        return
    # mkdir's mode is filtered by the umask; the directory must be 0700 whatever it is.
    os.chmod(path, PRIVATE_DIR)


def raw_bytes(message: Message) -> bytes:
    """The raw bytes of a stored message, from its blob or its file."""
    if message.raw_path:
        return Path(message.raw_path).read_bytes()
    return message.raw


def raw_size(message: Message) -> int:
    """The size of a stored message's raw bytes, without reading a file."""
    if message.raw_path:
        try:
            return Path(message.raw_path).stat().st_size
        except OSError:
            return 0  # the file is gone (a restore without the data directory): shown as empty, not a crash
    return len(message.raw)
