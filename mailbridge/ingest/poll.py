"""Stage: read new mail of every folder of one mailbox and hand each message to intake.

UID based, per (mailbox, folder): only UIDs above the stored last UID for the current UIDVALIDITY
are fetched, in batches; a batch gets its after-sync step on the server only after each of its
messages is committed (or, for unknown mail, decided to be left alone). A message expunged by another
client between SEARCH and FETCH is counted as vanished; one whose after-sync step the server refused
keeps the stored position below it, so the next poll finds it stored and marks it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import select

from mailbridge.base.config.settings import MailboxSettings
from mailbridge.ingest.after_sync import ServerAction, ServerStep, plan_server_step
from mailbridge.ingest.guard import StopSignal, accept_batch
from mailbridge.ingest.intake import Inbox
from mailbridge.ingest.prepare import Preparer
from mailbridge.ingest.results import PollResult
from mailbridge.ingest.sources.imap import FolderStatus, plan_batches
from mailbridge.ingest.sources.source import MailSource
from mailbridge.store import db
from mailbridge.store.models import MailboxState

log = logging.getLogger(__name__)


class ProgressReporter(Protocol):
    """Shows how far a long operation is: start(label, total), advance(count), finish()."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def finish(self) -> None: ...


def start_state(mailbox: MailboxSettings, status: FolderStatus) -> tuple[int, int]:
    """Decide (last_uid, silent_below_uid) for a folder seen for the first time (or after a UIDVALIDITY change)."""
    if mailbox.initial_sync == "new-only":
        return status.uidnext - 1, 0
    if mailbox.initial_sync == "import-silently":
        return 0, status.uidnext
    return 0, 0


def _load_state(engine: Engine, mailbox: MailboxSettings, folder: str, status: FolderStatus) -> MailboxState:
    with db.transaction(engine) as session:
        state = session.exec(
            select(MailboxState).where(MailboxState.mailbox == mailbox.name, MailboxState.folder == folder)
        ).first()
        if state is None:
            state = MailboxState(mailbox=mailbox.name, folder=folder, uidvalidity=status.uidvalidity)
            state.last_uid, state.silent_below_uid = start_state(mailbox, status)
            # The audit's initial-sync line: what was there before this first poll and is not taken.
            state.start_uid = state.last_uid
            session.add(state)
        elif state.uidvalidity != status.uidvalidity:
            # RFC 3501 §2.3.1.1: old UIDs mean nothing now; rescan, the raw-bytes digest catches repeats.
            log.warning(
                "uidvalidity changed mailbox=%s folder=%s old=%s new=%s",
                mailbox.name,
                folder,
                state.uidvalidity,
                status.uidvalidity,
            )
            state.uidvalidity, state.last_uid, state.silent_below_uid = status.uidvalidity, 0, 0
            state.start_uid = 0
        return state


def _save_progress(engine: Engine, state_id: int, last_uid: int, now: datetime) -> None:
    with db.transaction(engine) as session:
        state = session.get(MailboxState, state_id)
        state.last_uid = max(state.last_uid, last_uid)
        state.last_success_at, state.last_error = now, ""


def record_poll_error(engine: Engine, mailbox: MailboxSettings, error: str) -> None:
    """Remember the last error of each folder of a mailbox, for `mailbridge status`."""
    with db.transaction(engine) as session:
        for state in session.exec(select(MailboxState).where(MailboxState.mailbox == mailbox.name)):
            state.last_error = error[:500]


@dataclass(frozen=True)
class Poller:
    """What a poll needs besides the mailbox: how to open a source and parse, and who is watching."""

    open_source: Callable[[MailboxSettings], MailSource]
    preparer: Preparer
    stop: StopSignal  # set on SIGTERM: finish the message in hand, then stop
    progress: ProgressReporter | None = None  # a progress bar for long syncs (terminal only)


def poll_mailbox(poller: Poller, inbox: Inbox, mailbox: MailboxSettings, now: datetime) -> PollResult:
    """Fetch, store and mark every new message of each folder of one mailbox. Raises: SourceError."""
    totals = PollResult(mailbox.name, 0, 0, 0, 0)
    with poller.open_source(mailbox) as source:
        for folder in mailbox.folders:
            found = _poll_folder(poller, inbox, source, mailbox, folder, now)
            totals = PollResult(
                mailbox.name, *(a + b for a, b in zip(astuple(totals)[1:], astuple(found)[1:], strict=True))
            )
    return totals


def _fetch_prepared(
    poller: Poller,
    inbox: Inbox,
    source: MailSource,
    mailbox: MailboxSettings,
    folder: str,
    status: FolderStatus,
    group: list[int],
    too_large: dict[int, int],
):
    """Fetch one batch and hand it to the preparer, which starts on it at once.

    A message over max_message_bytes (`too_large`: its size by UID) is never downloaded: only its header is
    fetched, and intake records it as too large; the preparer gets nothing of it to parse.
    """
    headers_only = {uid: too_large[uid] for uid in group if uid in too_large}
    whole = [uid for uid in group if uid not in headers_only]
    batch = source.fetch(folder, status, whole) if whole else []
    if headers_only:
        batch = sorted([*batch, *source.fetch_headers(folder, status, headers_only)], key=lambda mail: mail.uid)
    raws = [mail.raw if mail.server_size is None else b"" for mail in batch]
    return batch, poller.preparer.prepare_all(raws, mailbox.max_message_bytes, inbox.parse_limits)


def _poll_folder(
    poller: Poller, inbox: Inbox, source: MailSource, mailbox: MailboxSettings, folder: str, now: datetime
) -> PollResult:
    stored = duplicates = failed = fetched = vanished = 0
    status = source.select(folder)
    state = _load_state(inbox.engine, mailbox, folder, status)
    uids = source.new_uids(state.last_uid)
    contiguous, blocked = state.last_uid, False
    # Batches are bounded by count and bytes, so memory holds two batches (this one and the next) at a time.
    if poller.progress is not None and uids:
        poller.progress.start(f"{mailbox.name}/{folder}", len(uids))
    sizes = source.sizes(uids)
    too_large = {uid: size for uid, size in sizes.items() if size > mailbox.max_message_bytes}
    # Only the header of a message over the limit is fetched: it adds nothing to a batch's bytes.
    groups = plan_batches(uids, {uid: 0 if uid in too_large else size for uid, size in sizes.items()})
    upcoming = _fetch_prepared(poller, inbox, source, mailbox, folder, status, groups[0], too_large) if groups else None
    for index in range(len(groups)):
        if poller.stop.is_set():
            break
        batch, prepared = upcoming
        # The next batch is fetched now, so the worker parses it while this one is stored.
        upcoming = (
            _fetch_prepared(poller, inbox, source, mailbox, folder, status, groups[index + 1], too_large)
            if index + 1 < len(groups)
            else None
        )
        fetched += len(batch)
        vanished += len(groups[index]) - len(batch)
        steps: dict[ServerStep, list[int]] = {}
        # SIGTERM: the messages in hand are done; the rest is fetched again next time.
        results = accept_batch(
            inbox, batch, now, silent_below_uid=state.silent_below_uid, prepared=prepared, stop=poller.stop
        )
        # A stop request leaves `results` shorter than the batch: the rest is fetched again next time.
        for mail, result in zip(batch, results, strict=False):
            if result is None:
                failed += 1
                continue
            step = plan_server_step(mailbox, is_unknown=result.is_unknown)
            if mail.server_size is not None and step.action is ServerAction.DELETE:
                # Only its header is stored: a message we could not download is never deleted from the server.
                step = ServerStep(ServerAction.KEEP)
            steps.setdefault(step, []).append(mail.uid)
            duplicates += result.already_stored
            stored += not (result.already_stored or result.is_unknown)
        if inbox.fence is not None and steps:
            # A daemon that lost the mailbox (it hung past its lease) marks nothing: its new holder marks them.
            with db.transaction(inbox.engine) as session:
                inbox.fence(session)
        # Committed before marking: after a crash the next poll finds the rows and only marks them.
        marked = {step: source.mark_processed(done, step) for step, done in steps.items()}
        # The stored position only moves past messages that are all done; a failed or unmarked one is fetched again.
        # A vanished one holds it too: if it was really expunged the next SEARCH no longer lists it and the position
        # moves on then; if the server only failed to return it this once, it is fetched again, never skipped.
        handled = {uid for step, done in steps.items() if marked[step] for uid in done}
        for uid in groups[index]:
            blocked = blocked or uid not in handled
            contiguous = contiguous if blocked else uid
        _save_progress(inbox.engine, state.id, contiguous, now)
        if poller.progress is not None:
            poller.progress.advance(len(groups[index]))
    if poller.progress is not None and uids:
        poller.progress.finish()
    if not uids:
        _save_progress(inbox.engine, state.id, state.last_uid, now)
    return PollResult(mailbox.name, fetched, stored, duplicates, failed, vanished)
