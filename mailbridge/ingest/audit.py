"""Stage: audit one mailbox (`mailboxes audit NAME`, the daemon's nightly run) and, with `fix`, mend what it found.

For each folder: the server's UIDs and flags (the folder opened read-only unless fixing), the poll's position and the
stored rows; a message no row holds by its key is fetched and looked up by its bytes (a UIDVALIDITY reset, a copy
stored before); `decisions.mailbox_audit` decides. `fix` imports every message not stored through the normal intake
(silently when older than a day) and carries out the after-sync step on those and on stored ones not marked; the
audit then runs again. The result is kept as the mailbox's last audit (`store.mailbox_audit`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailbridge.base.config.settings import MailboxSettings
from mailbridge.decisions.inbound.parse import parse_message
from mailbridge.decisions.mailbox_audit import (
    PROBLEMS,
    WORDING,
    Finding,
    FolderAudit,
    FolderFacts,
    after_sync_action,
    audit_folder,
    is_silent_fix,
    summary_counts,
    to_import,
    to_mark,
    unmatched_uids,
)
from mailbridge.ingest.after_sync import ServerAction, ServerStep, plan_server_step, step_for_after_sync
from mailbridge.ingest.guard import accept_batch
from mailbridge.ingest.intake import Inbox
from mailbridge.ingest.prepare import raw_digest
from mailbridge.ingest.sources.imap import FolderStatus, ImapSource, RawMail, plan_batches
from mailbridge.store import db
from mailbridge.store import mailbox_audit as store

log = logging.getLogger(__name__)
EVERY_UID = 2**63  # silent_below_uid that makes every message of a batch silent


@dataclass(frozen=True)
class AuditedMessage:
    """One message the audit names, with what its header or stored row says."""

    folder: str
    uid: int
    finding: Finding
    sent_at: datetime | None = None
    sender: str = ""
    subject: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "uid": self.uid,
            "finding": self.finding.value,
            "date": self.sent_at,
            "from": self.sender,
            "subject": self.subject,
        }


@dataclass(frozen=True)
class MailboxAuditResult:
    mailbox: str
    folders: tuple[FolderAudit, ...]
    messages: tuple[AuditedMessage, ...]  # the problems, then those not yet polled
    imported: int = 0  # by `fix`
    marked: int = 0  # by `fix`
    before_fix: MailboxAuditResult | None = field(default=None, repr=False)

    @property
    def counts(self) -> dict[str, int]:
        return summary_counts(list(self.folders))

    @property
    def problems(self) -> tuple[AuditedMessage, ...]:
        return tuple(m for m in self.messages if m.finding in PROBLEMS)

    @property
    def changed_folders(self) -> list[str]:
        return [f.folder for f in self.folders if f.uidvalidity_changed]


def audit_mailbox(
    open_source: Callable[[MailboxSettings], ImapSource],
    inbox: Inbox,
    mailbox: MailboxSettings,
    now: datetime,
    *,
    fix: bool = False,
) -> MailboxAuditResult:
    """Audit every folder of one mailbox, mend it with `fix`, and keep the result. Raises: SourceError."""
    with open_source(mailbox) as source:
        found = _audit(source, inbox, mailbox, fix=fix)
        result = found.result
        if fix:
            imported = _import(source, inbox, mailbox, found, now)
            marked = _mark(source, mailbox, found)
            again = _audit(source, inbox, mailbox, fix=False).result
            result = MailboxAuditResult(mailbox.name, again.folders, again.messages, imported, marked, result)
    with db.transaction(inbox.engine) as session:
        problems = [m.as_json() for m in result.problems]
        store.save_audit(
            session=session, mailbox=mailbox.name, now=now, counts=result.counts, problems=problems, error=""
        )
    log.info("audit mailbox=%s %s", mailbox.name, " ".join(f"{k}={v}" for k, v in result.counts.items()))
    return result


def record_audit_error(inbox: Inbox, mailbox: MailboxSettings, now: datetime, error: str) -> None:
    """Keep an audit that could not run (the server refused) as the mailbox's last one, with why."""
    with db.transaction(inbox.engine) as session:
        store.save_audit(session=session, mailbox=mailbox.name, now=now, counts={}, problems=[], error=error)


@dataclass
class _Found:
    result: MailboxAuditResult
    fetched: dict[tuple[str, int], RawMail]  # the messages fetched to be looked up by their bytes
    statuses: dict[str, FolderStatus]


def _audit(source: ImapSource, inbox: Inbox, mailbox: MailboxSettings, *, fix: bool) -> _Found:
    folders, messages, fetched, statuses = [], [], {}, {}
    action = after_sync_action(mailbox.after_sync)
    for folder in mailbox.folders:
        status = source.select(folder, readonly=not fix)
        statuses[folder] = status
        server = source.flags_by_uid()
        facts = _facts(inbox, mailbox, folder, status, server)
        unmatched = unmatched_uids(facts)
        mails = _fetch(source, folder, status, unmatched, mailbox.max_message_bytes)
        fetched.update(((folder, mail.uid), mail) for mail in mails)
        with db.transaction(inbox.engine) as session:
            copies = {
                mail.uid: kind
                for mail in mails
                if (kind := store.kind_by_digest(session=session, mailbox=mailbox.name, digest=raw_digest(mail.raw)))
            }
        audit = audit_folder(FolderFacts(**{**vars(facts), "stored": {**facts.stored, **copies}}), action)
        folders.append(audit)
        messages += _describe(inbox, mailbox, audit, fetched)
    order = {finding: index for index, finding in enumerate(Finding)}
    messages.sort(key=lambda m: (order[m.finding], m.folder, m.uid))
    return _Found(MailboxAuditResult(mailbox.name, tuple(folders), tuple(messages)), fetched, statuses)


def _facts(
    inbox: Inbox, mailbox: MailboxSettings, folder: str, status: FolderStatus, server: dict[int, frozenset[str]]
) -> FolderFacts:
    with db.transaction(inbox.engine) as session:
        position = store.folder_position(session=session, mailbox=mailbox.name, folder=folder)
        stored = store.stored_kinds(
            session=session, mailbox=mailbox.name, folder=folder, uidvalidity=status.uidvalidity
        )
    if position is None:
        return FolderFacts(folder, status.uidvalidity, server, stored, None, 0, 0)
    start = position.start_uid
    if start is None:
        # A folder polled before the audit existed: new-only took what came after its first poll, which the lowest
        # stored UID shows best; the other modes took everything.
        lowest = min(stored, default=position.last_uid + 1)
        start = lowest - 1 if mailbox.initial_sync == "new-only" else 0
    return FolderFacts(folder, status.uidvalidity, server, stored, position.uidvalidity, position.last_uid, start)


def _fetch(source: ImapSource, folder: str, status: FolderStatus, uids: list[int], max_bytes: int) -> list[RawMail]:
    """Fetch these messages in batches; only the header of one over max_message_bytes, as the poll does."""
    if not uids:
        return []
    sizes = source.sizes(uids)
    too_large = {uid: size for uid, size in sizes.items() if size > max_bytes}
    mails: list[RawMail] = []
    for group in plan_batches(uids, {uid: 0 if uid in too_large else size for uid, size in sizes.items()}):
        whole = [uid for uid in group if uid not in too_large]
        mails += source.fetch(folder, status, whole) if whole else []
        headers = {uid: too_large[uid] for uid in group if uid in too_large}
        mails += source.fetch_headers(folder, status, headers) if headers else []
    return sorted(mails, key=lambda mail: mail.uid)


def _describe(
    inbox: Inbox, mailbox: MailboxSettings, audit: FolderAudit, fetched: dict[tuple[str, int], RawMail]
) -> list[AuditedMessage]:
    """The audit's findings with the date, sender and subject of each: from its stored row, else its header."""
    stored_uids = [d.uid for d in audit.findings if d.finding is Finding.STORED_NOT_MARKED]
    with db.transaction(inbox.engine) as session:
        details = store.stored_details(
            session=session, mailbox=mailbox.name, folder=audit.folder, uidvalidity=audit.uidvalidity, uids=stored_uids
        )
    described = []
    for d in audit.findings:
        mail = fetched.get((audit.folder, d.uid))
        if d.uid in details:
            row = details[d.uid]
            described.append(AuditedMessage(d.folder, d.uid, d.finding, row.sent_at, row.sender, row.subject))
        elif mail is not None:
            parsed = parse_message(mail.raw)
            sender = parsed.from_addr or ""
            described.append(AuditedMessage(d.folder, d.uid, d.finding, _date(parsed.date), sender, parsed.subject))
        else:
            described.append(AuditedMessage(d.folder, d.uid, d.finding))
    return described


def _date(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _import(source: ImapSource, inbox: Inbox, mailbox: MailboxSettings, found: _Found, now: datetime) -> int:
    """Store every message on the server that no row holds, through the normal intake, then mark it. Return how many
    were stored."""
    stored = 0
    for audit in found.result.folders:
        uids = to_import(audit)
        status = found.statuses[audit.folder]
        source.select(audit.folder)
        have = {uid for (folder, uid) in found.fetched if folder == audit.folder}
        mails = [found.fetched[(audit.folder, uid)] for uid in uids if uid in have]
        mails += _fetch(
            source, audit.folder, status, [uid for uid in uids if uid not in have], mailbox.max_message_bytes
        )
        fresh: list[RawMail] = []
        silent: list[RawMail] = []
        for mail in mails:  # parsed once each; `parse_message` never raises on malformed mail
            quiet = mail.server_size is not None or is_silent_fix(_date(parse_message(mail.raw).date), now)
            (silent if quiet else fresh).append(mail)
        steps: dict[ServerStep, list[int]] = {}
        for group, below in ((fresh, 0), (silent, EVERY_UID)):
            for mail, result in zip(group, accept_batch(inbox, group, now, silent_below_uid=below), strict=False):
                if result is None:
                    continue  # broke intake: counted like any failure, quarantined at the third
                step = plan_server_step(mailbox, is_unknown=result.is_unknown)
                if mail.server_size is not None and step.action is ServerAction.DELETE:
                    step = ServerStep(ServerAction.KEEP)  # only its header is stored: never deleted
                steps.setdefault(step, []).append(mail.uid)
                stored += not (result.already_stored or result.is_unknown)
        for step, done in steps.items():
            source.mark_processed(done, step)
    return stored


def _mark(source: ImapSource, mailbox: MailboxSettings, found: _Found) -> int:
    """Carry out the after-sync step on stored messages the server does not show it on; return how many."""
    marked = 0
    step = step_for_after_sync(mailbox.after_sync)
    for audit in found.result.folders:
        uids = to_mark(audit)
        if not uids:
            continue
        source.select(audit.folder)
        # A too large message (only its header stored) never counts as unmarked under `delete`: nothing to spare here.
        if source.mark_processed(uids, step):
            marked += len(uids)
    return marked


def finding_text(finding: Finding) -> str:
    """How a finding reads in the CLI's lines."""
    return WORDING[finding]
