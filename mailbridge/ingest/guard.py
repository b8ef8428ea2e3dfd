"""Stage: intake's safety net. Batches in one transaction, a failing message counted and quarantined.

The poller hands a fetched batch to `accept_batch`; `mailbridge ingest` hands single messages to
`accept_guarded` (on stdin to `accept_counted`, which tells a full raw-mail disk apart). A message that breaks intake
never takes other mail with it: the batch is stored again one message per transaction, and after QUARANTINE_AFTER
failures the message is kept raw as `quarantined` so the mailbox moves on (intake does that at once for a message
whose parse outran the time budget). A database that is unreachable, or a raw-mail disk that is full, is not the
message's fault: nothing is counted and the caller tries again.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import islice
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import select

from mailbridge.base.errors import CommandError, LeaseLost, MailbridgeError, NotFoundError
from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.kinds import MessageKind
from mailbridge.decisions.parked_mail import kind_before_dismissal
from mailbridge.ingest.intake import Inbox, IntakeResult, accept, accept_in, store_quarantined
from mailbridge.ingest.prepare import Prepared
from mailbridge.ingest.sources.imap import RawMail
from mailbridge.store import db, thread_links, tickets
from mailbridge.store.models import IntakeFailure, Message
from mailbridge.store.raw_files import raw_bytes

log = logging.getLogger(__name__)
QUARANTINE_AFTER = 3
# A full or read-only disk where raw mail is written (store.raw_files): retried, never counted against the mail.
STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


class StopSignal(Protocol):
    """Asked before each message: once it reads as set, the batch (and the poll) ends there. A threading.Event is one."""

    def is_set(self) -> bool: ...


def accept_batch(
    inbox: Inbox,
    mails: Sequence[RawMail],
    now: datetime,
    *,
    silent_below_uid: int = 0,
    prepared: Iterable[Prepared] = (),
    stop: StopSignal | None = None,
) -> list[IntakeResult | None]:
    """Store a fetched batch in one transaction; when any message fails, store them one by one instead.

    One commit for the batch saves most of the per-message cost of a large sync; the server marks still
    follow that commit. A failing message rolls the whole batch back (nothing of it is kept), and the
    batch is then taken one transaction per message, where each failure is counted as usual.
    Stops before the next message once a stop is requested; the result then covers only the messages done.
    """
    # The whole batch's parse first: two look-aheads then spare most messages their arrival-order, twin and
    # subject lookups.
    parsed_list: list[Prepared] = list(islice(prepared, len(mails)))
    parsed_list += [None] * (len(mails) - len(parsed_list))
    try:
        with db.transaction(inbox.engine) as session:
            batch = [p for p in parsed_list if isinstance(p, ParsedMessage)]
            thread_links.look_ahead(session, batch)
            tickets.look_ahead_customers(session, batch)
            results = []
            for mail, parsed in zip(mails, parsed_list, strict=True):
                if stop is not None and stop.is_set():
                    break
                results.append(accept_in(inbox, session, mail, now, silent=mail.uid < silent_below_uid, parsed=parsed))
            if inbox.fence is not None:
                inbox.fence(session)  # another daemon took the mailbox over: roll the batch back
            return results
    except (OperationalError, InterfaceError, LeaseLost):
        raise
    except Exception as exc:  # noqa: BLE001 - the batch is retried message by message, which counts failures.
        log.warning(
            "batch of %s rolled back (%s: %s); storing its messages one at a time", len(mails), type(exc).__name__, exc
        )
    results = []
    for mail, parsed in zip(mails, parsed_list, strict=True):
        if stop is not None and stop.is_set():
            break
        results.append(accept_guarded(inbox, mail, now, silent=mail.uid < silent_below_uid, parsed=parsed))
    return results


class RawStoreFull(MailbridgeError):
    """The disk where raw mail is written is full or read-only (STORAGE_FULL): not the message's fault."""


def accept_guarded(
    inbox: Inbox, mail: RawMail, now: datetime, *, silent: bool = False, parsed: Prepared = None
) -> IntakeResult | None:
    """Accept a message; on a bug, count the failure and quarantine after three. None: try again later."""
    try:
        return accept_counted(inbox, mail, now, silent=silent, parsed=parsed)
    except RawStoreFull as exc:
        # Not marked on the server: the message is stored once there is room.
        log.warning("not stored, the disk refused it mailbox=%s uid=%s error=%s", mail.mailbox, mail.uid, exc.__cause__)
        return None


def accept_counted(
    inbox: Inbox, mail: RawMail, now: datetime, *, silent: bool = False, parsed: Prepared = None
) -> IntakeResult | None:
    """Accept a message; on a bug, count the failure and quarantine after three. None: try again later.

    Raises: RawStoreFull, with nothing counted, when the raw-mail disk is full or read-only.
    """
    try:
        return accept(inbox, mail, now, silent=silent, parsed=parsed)
    except (OperationalError, InterfaceError, LeaseLost):
        # The database is unreachable, locked or full, or another daemon took the mailbox over (LeaseLost): not the
        # message's fault, so nothing is counted; the caller tries again (the poller at its next poll, `ingest` with
        # EX_TEMPFAIL) or, having lost the lease, leaves the mailbox to its new holder.
        raise
    except Exception as exc:  # noqa: BLE001 - intake is one of the four boundaries
        if isinstance(exc, OSError) and exc.errno in STORAGE_FULL:
            # Not the message's fault either: nothing is counted (three counts would quarantine it).
            raise RawStoreFull(exc.strerror or str(exc)) from exc
        log.exception("intake failed mailbox=%s uid=%s", mail.mailbox, mail.uid)
        failures = _count_failure(inbox, mail, now, f"{type(exc).__name__}: {exc}")
        if failures >= QUARANTINE_AFTER:
            return _quarantine(inbox, mail, now, f"{type(exc).__name__}: {exc}")
        return None


def retry_quarantined(
    engine: Engine, inbox_for: Callable[[str], Inbox], message_row_id: int, now: datetime
) -> IntakeResult:
    """Run a quarantined (or dismissed quarantined) message through intake again; on failure it stays unchanged.

    Raises: NotFoundError for an unknown id; CommandError for a message that is not quarantined.
    """
    with db.transaction(engine) as session:
        row = session.get(Message, message_row_id)
        if row is None:
            raise NotFoundError(f"no stored message with id {message_row_id}")
        # A quarantined message an admin dismissed can still be retried, once the bug is fixed.
        was = kind_before_dismissal(row.defects) if row.kind == MessageKind.DISMISSED else row.kind
        if was != MessageKind.QUARANTINED:
            raise CommandError(f"message {message_row_id} is {row.kind}, not quarantined")
        mail = RawMail(row.mailbox, row.folder, row.uidvalidity, row.uid, raw_bytes(row))
        for failure in session.exec(
            select(IntakeFailure).where(
                IntakeFailure.mailbox == mail.mailbox,
                IntakeFailure.folder == mail.folder,
                IntakeFailure.uidvalidity == mail.uidvalidity,
                IntakeFailure.uid == mail.uid,
            )
        ):
            session.delete(failure)
        # Removed and accepted again in one transaction: if intake fails, the rollback keeps the quarantined row.
        session.delete(row)
        session.flush()
        return accept_in(inbox_for(mail.mailbox), session, mail, now, silent=False)


def _count_failure(inbox: Inbox, mail: RawMail, now: datetime, error: str) -> int:
    with db.transaction(inbox.engine) as session:
        row = session.exec(
            select(IntakeFailure).where(
                IntakeFailure.mailbox == mail.mailbox,
                IntakeFailure.folder == mail.folder,
                IntakeFailure.uidvalidity == mail.uidvalidity,
                IntakeFailure.uid == mail.uid,
            )
        ).first()
        if row is None:
            row = IntakeFailure(mailbox=mail.mailbox, folder=mail.folder, uidvalidity=mail.uidvalidity, uid=mail.uid)
            session.add(row)
        row.failures += 1
        row.last_error = error[:500]
        row.updated_at = now
        return row.failures


def _quarantine(inbox: Inbox, mail: RawMail, now: datetime, error: str) -> IntakeResult:
    with db.transaction(inbox.engine) as session:
        result = store_quarantined(session, mail, now, error, files=inbox.raw_store)
        if inbox.fence is not None:
            inbox.fence(session)
        return result
