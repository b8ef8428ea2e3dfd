"""Stage: read new mail of one mailbox folder and hand each message to intake.

UID based: only UIDs above the stored last UID for the current UIDVALIDITY are fetched, in
batches; a batch is flagged on the server only after each of its messages is committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from mailbridge import db
from mailbridge.app import App
from mailbridge.config import MailboxSettings
from mailbridge.ingest.imap_source import FETCH_BATCH, FolderStatus
from mailbridge.ingest.intake import accept_guarded
from mailbridge.models import MailboxState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    mailbox: str
    fetched: int
    stored: int
    duplicates: int
    failed: int


def start_state(mailbox: MailboxSettings, status: FolderStatus) -> tuple[int, int]:
    """Decide (last_uid, silent_below_uid) for a folder seen for the first time (or after a UIDVALIDITY change)."""
    if mailbox.initial_sync == "new-only":
        return status.uidnext - 1, 0
    if mailbox.initial_sync == "import-silently":
        return 0, status.uidnext
    return 0, 0


def _load_state(app: App, mailbox: MailboxSettings, status: FolderStatus, now: datetime) -> MailboxState:
    with db.transaction(app.engine) as session:
        state = session.exec(select(MailboxState).where(
            MailboxState.mailbox == mailbox.name, MailboxState.folder == mailbox.folder)).first()
        if state is None:
            state = MailboxState(mailbox=mailbox.name, folder=mailbox.folder, uidvalidity=status.uidvalidity)
            state.last_uid, state.silent_below_uid = start_state(mailbox, status)
            session.add(state)
        elif state.uidvalidity != status.uidvalidity:
            # RFC 3501 §2.3.1.1: old UIDs mean nothing now; rescan, the raw-bytes digest catches repeats.
            log.warning("uidvalidity changed mailbox=%s folder=%s old=%s new=%s",
                        mailbox.name, mailbox.folder, state.uidvalidity, status.uidvalidity)
            state.uidvalidity, state.last_uid, state.silent_below_uid = status.uidvalidity, 0, 0
        return state


def _save_progress(app: App, state_id: int, last_uid: int, now: datetime) -> None:
    with db.transaction(app.engine) as session:
        state = session.get(MailboxState, state_id)
        state.last_uid = max(state.last_uid, last_uid)
        state.last_success_at, state.last_error = now, ""


def record_poll_error(app: App, mailbox: MailboxSettings, error: str) -> None:
    """Remember the last error of a mailbox, for `mailbridge status`."""
    with db.transaction(app.engine) as session:
        state = session.exec(select(MailboxState).where(
            MailboxState.mailbox == mailbox.name, MailboxState.folder == mailbox.folder)).first()
        if state is not None:
            state.last_error = error[:500]


def poll_mailbox(app: App, mailbox: MailboxSettings, now: datetime) -> PollResult:
    """Fetch, store and flag every new message of one mailbox folder. Raises: SourceError."""
    stored = duplicates = failed = fetched = 0
    with app.open_source(mailbox) as source:
        status = source.select(mailbox.folder)
        state = _load_state(app, mailbox, status, now)
        uids = source.new_uids(state.last_uid)
        contiguous, blocked = state.last_uid, False
        for start in range(0, len(uids), FETCH_BATCH):
            batch = source.fetch(mailbox.folder, status, uids[start:start + FETCH_BATCH])
            fetched += len(batch)
            done: list[int] = []
            for mail in batch:
                result = accept_guarded(app, mail, now, silent=mail.uid < state.silent_below_uid)
                if result is None:
                    failed += 1
                    continue
                done.append(mail.uid)
                duplicates += result.already_stored
                stored += not result.already_stored
            # Committed before flagging: after a crash the next poll finds the rows and only flags them.
            source.mark_processed(done)
            # The stored position only moves past messages that are all done; a failed one is fetched again.
            for mail in batch:
                blocked = blocked or mail.uid not in done
                contiguous = contiguous if blocked else mail.uid
            _save_progress(app, state.id, contiguous, now)
        if not uids:
            _save_progress(app, state.id, state.last_uid, now)
    return PollResult(mailbox.name, fetched, stored, duplicates, failed)
