"""I/O: what the mailbox audit reads of the store (a folder's poll position, its stored rows, a copy found by its
bytes) and the MailboxAudit row it writes: the last audit of each mailbox, read by `reports.status`.

Called by `ingest.audit`; functions take `session=` and never commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from mailbridge.decisions.kinds import Direction
from mailbridge.store import db
from mailbridge.store.models import MailboxAudit, MailboxState, Message


@dataclass(frozen=True)
class FolderPosition:
    uidvalidity: int
    last_uid: int
    start_uid: int | None  # None: written before the audit existed


@dataclass(frozen=True)
class StoredDetails:
    sent_at: datetime | None
    sender: str
    subject: str


def folder_position(*, session: Session, mailbox: str, folder: str) -> FolderPosition | None:
    """The poll's position in a folder (None: never polled)."""
    state = session.exec(
        select(MailboxState).where(MailboxState.mailbox == mailbox, MailboxState.folder == folder)
    ).first()
    return None if state is None else FolderPosition(state.uidvalidity, state.last_uid, state.start_uid)


def stored_kinds(*, session: Session, mailbox: str, folder: str, uidvalidity: int) -> dict[int, str]:
    """UID -> kind of every inbound row stored from this folder under this UIDVALIDITY."""
    rows = db.run(
        session,
        select(Message.uid, Message.kind).where(
            Message.mailbox == mailbox,
            Message.folder == folder,
            Message.uidvalidity == uidvalidity,
            Message.direction == Direction.INBOUND,
        ),
    )
    return {int(uid): kind for uid, kind in rows if uid is not None}


def kind_by_digest(*, session: Session, mailbox: str, digest: str) -> str | None:
    """The kind of a row of this mailbox holding the same bytes (stored under another UID or UIDVALIDITY), or None."""
    row = db.run(
        session, select(Message.kind).where(Message.mailbox == mailbox, Message.raw_sha256 == digest).limit(1)
    ).first()
    return None if row is None else row[0]


def stored_details(
    *, session: Session, mailbox: str, folder: str, uidvalidity: int, uids: list[int]
) -> dict[int, StoredDetails]:
    """The date, sender and subject of stored rows, by UID, for the audit's lines."""
    if not uids:
        return {}
    rows = db.run(
        session,
        select(Message.uid, Message.sent_at, Message.from_addr, Message.subject).where(
            Message.mailbox == mailbox,
            Message.folder == folder,
            Message.uidvalidity == uidvalidity,
            col(Message.uid).in_(uids),
        ),
    )
    return {int(uid): StoredDetails(sent_at, sender or "", subject or "") for uid, sent_at, sender, subject in rows}


def save_audit(
    *, session: Session, mailbox: str, now: datetime, counts: dict[str, int], problems: list[dict[str, Any]], error: str
) -> None:
    """Keep the result of this audit as the mailbox's last one."""
    row = session.exec(select(MailboxAudit).where(MailboxAudit.mailbox == mailbox)).first()
    if row is None:
        row = MailboxAudit(mailbox=mailbox)
        session.add(row)
    row.ran_at, row.error = now, error[:500]
    for name in ("missing", "marked_not_stored", "stored_not_marked", "not_yet_polled", "on_server", "stored"):
        setattr(row, name, counts.get(name, 0))
    row.problems = json.dumps({"counts": counts, "problems": problems}, default=str, ensure_ascii=False)
