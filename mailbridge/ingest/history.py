"""Stage: bringing a mailbox's history in. An IMAP folder read without changing it, and the imported tickets settled.

`mailbridge ingest PATH` and `mailboxes import NAME --folder F` hand each message to intake (silently, with an
Inbox that imports history); then `settle_tickets` gives the tickets the import opened the status asked for,
dated by their messages, in one transaction. A folder is opened read-only (EXAMINE) and fetched with BODY.PEEK:
no flag, no move, nothing on the server changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from mailbridge.base.config.settings import MailboxSettings
from mailbridge.decisions.history import settle_ticket
from mailbridge.decisions.kinds import TicketStatus
from mailbridge.ingest.sources.imap import FolderStatus, ImapSource, RawMail, plan_batches
from mailbridge.store import db
from mailbridge.store import history as stored_history


@dataclass(frozen=True)
class HistoryPlan:
    """What an import asks of the tickets it opens: a status for all, or closed only before a date."""

    status: TicketStatus | None = None
    closed_before: datetime | None = None


def live_folders(mailboxes: Iterable[MailboxSettings]) -> frozenset[tuple[str, str]]:
    """The (mailbox, folder) pairs the daemon polls: mail stored from them is live, never history."""
    return frozenset((m.name, folder) for m in mailboxes for folder in m.folders)


def settle_tickets(
    engine: Engine,
    numbers: Collection[str],
    plan: HistoryPlan,
    live: Collection[tuple[str, str]],
    now: datetime,
) -> Counter:
    """Give the imported tickets among `numbers` their status and dates; return how many end in each status."""
    statuses: Counter = Counter()
    with db.transaction(engine) as session:
        for ticket, history in stored_history.imported_histories(session=session, numbers=numbers, live=live, now=now):
            decided = settle_ticket(history, plan.status, plan.closed_before)
            stored_history.settle(session=session, ticket=ticket, history=history, settlement=decided, now=now)
            statuses[str(ticket.status)] += 1
    return statuses


@dataclass(frozen=True)
class FolderReader:
    """One folder opened read-only: its UIDs, and its messages fetched in batches without marking them."""

    source: ImapSource
    folder: str
    status: FolderStatus
    uids: list[int]

    def messages(self, max_message_bytes: int) -> Iterator[RawMail]:
        """Yield every message; one over max_message_bytes comes as its header with its size (stored as too large)."""
        sizes = self.source.sizes(self.uids)
        small = [uid for uid in self.uids if sizes.get(uid, 0) <= max_message_bytes]
        for batch in plan_batches(small, sizes):
            yield from self.source.fetch(self.folder, self.status, batch)
        large = {uid: size for uid, size in sizes.items() if size > max_message_bytes}
        if large:
            yield from self.source.fetch_headers(self.folder, self.status, large)


@contextmanager
def open_folder(mailbox: MailboxSettings, folder: str) -> Iterator[FolderReader]:
    """Log in and open `folder` read-only. Raises: SourceError naming the host and what failed."""
    with ImapSource(mailbox) as source:
        status = source.select(folder, readonly=True)
        yield FolderReader(source, folder, status, source.new_uids(0))
