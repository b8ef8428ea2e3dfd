"""The MailSource protocol: what the poller asks of a mailbox, whatever the protocol behind it.

`ImapSource` implements it; tests and other sources (a POP3 or Graph source) meet the same contract.
"""

from __future__ import annotations

from typing import Protocol, Self

from mailbridge.ingest.after_sync import ServerStep
from mailbridge.ingest.sources.imap import FolderStatus, RawMail


class MailSource(Protocol):
    """One logged-in connection to one mailbox, used as a context manager by one poll."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def select(self, folder: str) -> FolderStatus:
        """Open a folder; return its UIDVALIDITY and UIDNEXT."""
        ...

    def new_uids(self, after_uid: int) -> list[int]:
        """The UIDs above `after_uid` in the selected folder, ascending."""
        ...

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """Each message's size in bytes, for planning batches."""
        ...

    def fetch(self, folder: str, status: FolderStatus, uids: list[int]) -> list[RawMail]:
        """The raw bytes of these messages, without marking them read; those gone meanwhile are left out."""
        ...

    def fetch_headers(self, folder: str, status: FolderStatus, sizes: dict[int, int]) -> list[RawMail]:
        """Only the header of messages too large to download (their sizes by UID), each with `server_size` set."""
        ...

    def mark_processed(self, uids: list[int], step: ServerStep) -> bool:
        """Flag, move or delete messages on the server, only after they were committed.

        False when the server refused: the next poll finds them stored and tries again.
        """
        ...
