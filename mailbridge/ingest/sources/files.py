"""Source: mail that arrives without IMAP (stdin, .eml files, Maildir folders, mbox files) -> RawMail.

Called by `mailbridge ingest`, which hands every RawMail to intake like the IMAP poller does.
Such mail has no IMAP UID, so its key is derived from its bytes: folder = the source kind,
(uidvalidity, uid) = the first two 31-bit words of the SHA-256 of the raw bytes. The same bytes
always get the same key, so a second import finds every message already stored.
"""

from __future__ import annotations

import hashlib
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mailbridge.base.errors import SourceError
from mailbridge.ingest.sources.imap import RawMail

INGEST_MAILBOX = "ingest"
_WORD = 0x7FFFFFFF  # 31 bits: the key columns are 32-bit signed integers on PostgreSQL
# An mbox separator after the first: "From SENDER DAY MON DD HH:MM..." (as mutt's is_from checks), so a body line
# an mboxo writer left unescaped ("From now on ...") stays in its message. Anchored, no nested repeats: linear.
_SEPARATOR = re.compile(rb"From +(?:\S+ +)?[A-Z][a-z]{2},? +[A-Z][a-z]{2} +\d{1,2} +\d{1,2}:\d\d")


@dataclass(frozen=True)
class MailPath:
    """One path given to `ingest`, recognised as an .eml file, a directory of them, a Maildir or an mbox."""

    kind: str  # "eml", "maildir" or "mbox"
    path: Path


def source_key(raw: bytes) -> tuple[int, int]:
    """Return (uidvalidity, uid) for mail without IMAP: two 31-bit words of its SHA-256."""
    digest = hashlib.sha256(raw).digest()
    return int.from_bytes(digest[:4], "big") & _WORD, int.from_bytes(digest[4:8], "big") & _WORD


def read_bounded(stream: BinaryIO, limit: int, chunk: int = 1 << 20) -> RawMail | bytes:
    """Read one message from a stream keeping at most `limit` bytes in memory.

    Returns the bytes when the message fits; else a RawMail of its head (at most `limit` bytes) with `server_size`
    its whole size and the key of its whole bytes, the rest read and dropped: over the limit it is recorded as too
    large (intake), whatever its size, in bounded memory.
    """
    head = stream.read(limit + 1)
    if len(head) <= limit:
        return head
    digest, size = hashlib.sha256(head), len(head)
    while block := stream.read(chunk):
        digest.update(block)
        size += len(block)
    whole = digest.digest()
    key = int.from_bytes(whole[:4], "big") & _WORD, int.from_bytes(whole[4:8], "big") & _WORD
    return RawMail("", "stdin", key[0], key[1], head[:limit], server_size=size)


def raw_mail(mailbox_name: str, kind: str, raw: bytes) -> RawMail:
    """Wrap bytes from a file source in the RawMail that intake takes."""
    uidvalidity, uid = source_key(raw)
    return RawMail(mailbox_name, kind, uidvalidity, uid, raw)


def recognise_path(path: Path) -> MailPath:
    """Tell what kind of mail store a path is. Raises: SourceError for anything else."""
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            return MailPath("maildir", path)
        if not _eml_files(path):
            raise SourceError(f"{path}: no mail in it (neither a Maildir nor a directory of .eml files)")
        return MailPath("eml", path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file or directory")
    with path.open("rb") as handle:
        # An mbox starts with a "From " separator line; a single message starts with a header.
        start = handle.read(4096)
    if not start.strip():
        raise SourceError(f"{path}: the file is empty, no mail in it")
    return MailPath("mbox" if start.startswith(b"From ") else "eml", path)


def count_messages(source: MailPath) -> int:
    """Count the messages a path holds, for the progress bar."""
    if source.kind == "maildir":
        return len(mailbox.Maildir(source.path, factory=None, create=False))
    if source.kind == "mbox":
        return sum(1 for _ in _mbox_messages(source.path))
    return len(_eml_files(source.path))


def read_messages(source: MailPath) -> Iterator[bytes]:
    """Yield the raw bytes of each message, one at a time, in a stable order."""
    if source.kind == "mbox":
        yield from _mbox_messages(source.path)
        return
    if source.kind == "maildir":
        store = mailbox.Maildir(source.path, factory=None, create=False)
        try:
            for key in sorted(store.keys()):
                yield store.get_bytes(key)
        finally:
            store.close()
        return
    for path in _eml_files(source.path):
        yield path.read_bytes()


def _eml_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".eml")


def _mbox_messages(path: Path) -> Iterator[bytes]:
    """Yield each message of an mbox file, cut as `mailbox.mbox` cuts it (so its bytes, and the key made of them,
    stay those of earlier imports) but only at separator lines that carry a date (`_SEPARATOR`)."""
    lines: list[bytes] | None = None  # the current message's lines; None before the first separator
    last_was_empty = False
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b"From ") and (lines is None or _SEPARATOR.match(line)):
                if lines is not None:
                    yield _mbox_message(lines, last_was_empty)
                lines, last_was_empty = [], False
                continue
            if lines is not None:
                lines.append(line)
            last_was_empty = line == b"\n"
    if lines is not None:
        yield _mbox_message(lines, last_was_empty)


def _mbox_message(lines: list[bytes], last_was_empty: bool) -> bytes:
    # The blank line before a separator belongs to the mbox, not to the message.
    return b"".join(lines[:-1] if last_was_empty and lines else lines)
