"""Stage: `customers erase ADDRESS`. Find what we hold about one person, delete their source messages on the IMAP
servers, anonymise their rows (`store.erasure.erase_person`) and leave an audit record, in one transaction.

The server copies go first: when a mailbox cannot be reached the command stops before anything is changed (run it
again, or pass `skip_server`), and when the database fails afterwards a second run finds the rows and finishes. A
dry run does the same work in a transaction that is rolled back, opens the folders read-only and deletes nothing,
so its counts are the real run's. Called by `cli.operate.customers_cmd`.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, replace

from sqlmodel import Session

from mailbridge.base.config.settings import MailboxSettings
from mailbridge.base.errors import NotFoundError, SourceError
from mailbridge.decisions.retention import ErasureCounts, pseudonym_of
from mailbridge.ingest.after_sync import ServerAction, step_for_after_sync
from mailbridge.ingest.sources.imap import ImapSource
from mailbridge.runtime.app import App
from mailbridge.store import erasure

log = logging.getLogger(__name__)

# A Message-ID we search for on the server: printable ASCII without quotes or backslashes (anything else is skipped).
SEARCHABLE_ID = re.compile(r"<[!#-\[\]-~]{1,250}>")


@dataclass(frozen=True)
class ErasureReport:
    counts: ErasureCounts
    pseudonym: str  # what the person's remaining rows carry now (and the audit record names)
    problems: tuple[str, ...] = ()  # mailboxes that could not be checked (dry run) or are no longer configured
    erasure_id: int | None = None  # the audit record; None in a dry run
    dry_run: bool = False


def secret_key(app: App) -> bytes:
    """The key of the pseudonyms: the [support] secret (an installation without one gets unkeyed hashes)."""
    secret = app.settings.support.secret
    return secret.value.encode("utf-8") if secret else b""


def erase_customer(app: App, address: str, *, actor: str, dry_run: bool, skip_server: bool = False) -> ErasureReport:
    """Erase one person (or, with dry_run, count what would go). Raises: NotFoundError when we hold nothing about
    the address; SourceError when a mailbox holding their mail cannot be reached (nothing is changed then)."""
    address = address.strip().lower()
    now = app.clock.now()
    key = secret_key(app)
    with Session(app.engine, expire_on_commit=False) as session:
        person = erasure.find_person(session, address)
        if person is None:
            raise NotFoundError(f"nothing stored about {address}")
        copies = erasure.server_copies(session, person.message_ids)
        session.rollback()
    deleted, problems = (0, ()) if skip_server else _sweep_server(app, copies, delete=not dry_run)
    with Session(app.engine, expire_on_commit=False) as session:
        try:
            person = erasure.find_person(session, address)
            if person is None:
                raise NotFoundError(f"nothing stored about {address}")
            removal = erasure.erase_person(session, person, key=key, actor=actor, now=now)
            files = erasure.remove_raw_files(session, removal.raw_paths, delete=not dry_run)
            counts = replace(removal.counts, raw_files=files, server_messages=deleted)
            pseudonym = pseudonym_of(address, key)
            if dry_run:
                return ErasureReport(counts, pseudonym, tuple(problems), None, True)
            erasure_id = erasure.record_erasure(
                session, kind="erase", actor=actor, subject=pseudonym, counts=counts, now=now
            )
            session.commit()
        finally:
            session.rollback()
    log.info("erased a customer as %s: %s", pseudonym, counts.as_dict())
    return ErasureReport(counts, pseudonym, tuple(problems), erasure_id)


def _sweep_server(app: App, copies: list[erasure.ServerCopy], *, delete: bool) -> tuple[int, list[str]]:
    """Count (and with delete, remove) the copies still on the servers; return the count and the mailboxes that
    could not be checked. Raises: SourceError when deleting and a mailbox cannot be reached."""
    by_mailbox: dict[str, list[erasure.ServerCopy]] = defaultdict(list)
    for copy in copies:
        by_mailbox[copy.mailbox].append(copy)
    configured = {m.name: m for m in app.settings.mailboxes}
    found, problems = 0, []
    for name, mine in sorted(by_mailbox.items()):
        mailbox = configured.get(name)
        if mailbox is None:
            problems.append(f"mailbox {name!r} is no longer configured: {len(mine)} source messages not checked")
            continue
        try:
            found += _sweep_mailbox(app, mailbox, mine, delete=delete)
        except SourceError as exc:
            if delete:
                raise SourceError(
                    f"{exc}; nothing erased (`--skip-server` erases without deleting the server copies)"
                ) from None
            problems.append(str(exc))
    return found, problems


def _sweep_mailbox(app: App, mailbox: MailboxSettings, copies: list[erasure.ServerCopy], *, delete: bool) -> int:
    """The copies in one mailbox: by UID where UIDVALIDITY still matches, and by Message-ID in the folder that
    `after_sync = "move:FOLDER"` moved them to (with new UIDs)."""
    found = 0
    by_folder: dict[str, list[erasure.ServerCopy]] = defaultdict(list)
    for copy in copies:
        by_folder[copy.folder].append(copy)
    source: ImapSource
    with app.open_source(mailbox) as source:
        for folder, mine in sorted(by_folder.items()):
            if not source.folder_exists(folder):
                continue
            status = source.select(folder, readonly=not delete)
            uids = sorted({c.uid for c in mine if c.uidvalidity == status.uidvalidity})
            found += _remove(source, source.existing_uids(uids) if uids else [], delete)
        step = step_for_after_sync(mailbox.after_sync)
        ids = sorted({c.message_id for c in copies if c.message_id and SEARCHABLE_ID.fullmatch(c.message_id)})
        if step.action is ServerAction.MOVE and step.folder and ids and source.folder_exists(step.folder):
            source.select(step.folder, readonly=not delete)
            moved = sorted({uid for message_id in ids for uid in source.uids_with_message_id(message_id)})
            found += _remove(source, moved, delete)
    return found


def _remove(source: ImapSource, uids: list[int], delete: bool) -> int:
    if delete:
        source.delete_uids(uids)
    return len(uids)
