"""Decision: does what a mailbox folder holds on the server agree with what was stored? Pure.

`ingest.audit` gathers the server's UIDs and flags, the stored rows and the poll's position, and hands them to
`audit_folder`, which names each message on the server that was not stored (missing, or marked on the server but
not stored), each stored one the server does not show as processed, and what the next poll takes anyway. The same
module decides when the nightly audit runs, which fixed messages are imported silently, and how a finding reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum

from mailbridge.decisions.kinds import MessageKind

SEEN = "\\seen"
DELETED = "\\deleted"
# A message whose Date is older than this is imported by `--fix` without any mail: a receipt days late confuses.
FRESH_FOR = timedelta(hours=24)
FLAGGED_KINDS = frozenset({MessageKind.QUARANTINED, MessageKind.TOO_LARGE, MessageKind.DISMISSED})


class AfterSync(StrEnum):
    """What the poller does to a message on the server once it is stored (`[[mailboxes]] after_sync`)."""

    SEEN = "seen"
    KEEP = "keep"
    DELETE = "delete"
    MOVE = "move"


class Finding(StrEnum):
    """What is wrong with one message, or (not_yet_polled) what the next poll takes anyway."""

    MISSING = "missing"  # on the server, unmarked, below the poll's position, not stored
    MARKED_NOT_STORED = "marked_not_stored"  # the server shows it processed (\Seen, \Deleted), but no row holds it
    STORED_NOT_MARKED = "stored_not_marked"  # stored, but the server does not show the after-sync step
    NOT_YET_POLLED = "not_yet_polled"  # above the poll's position: the next poll takes it; not a problem


PROBLEMS = (Finding.MISSING, Finding.MARKED_NOT_STORED, Finding.STORED_NOT_MARKED)
# Said once per finding in the CLI's lines and `status`.
WORDING = {
    Finding.MISSING: "on the server, not stored",
    Finding.MARKED_NOT_STORED: "marked on the server, not stored",
    Finding.STORED_NOT_MARKED: "stored, not marked on the server",
    Finding.NOT_YET_POLLED: "not yet polled",
}


@dataclass(frozen=True)
class FolderFacts:
    """What the audit of one folder compares (gathered by `ingest.audit`)."""

    folder: str
    uidvalidity: int  # the server's, now
    server: Mapping[int, frozenset[str]]  # UID -> its flags, lower-cased ("\\seen")
    stored: Mapping[int, str]  # UID -> Message.kind of the rows stored under this UIDVALIDITY (or the same bytes)
    polled_uidvalidity: int | None  # MailboxState's; None: the folder was never polled
    last_uid: int  # the poll's position: every UID up to it was handled
    start_uid: int  # UIDs up to this one were there before the first poll and not taken (initial_sync new-only)


@dataclass(frozen=True)
class Discrepancy:
    folder: str
    uid: int
    finding: Finding


@dataclass(frozen=True)
class FolderAudit:
    folder: str
    uidvalidity: int
    uidvalidity_changed: bool  # the server's differs from the one polled: the next poll reads the folder again
    on_server: int
    stored: int  # of the messages on the server
    flagged: int  # of those stored: quarantined, too large or dismissed (kept raw)
    before_start: int  # there before the first poll, not taken by design (initial_sync new-only)
    findings: tuple[Discrepancy, ...]

    def count(self, finding: Finding) -> int:
        return sum(1 for d in self.findings if d.finding is finding)


def after_sync_action(after_sync: str) -> AfterSync:
    """The action of an `after_sync` setting ("seen", "keep", "delete", "move:FOLDER")."""
    return AfterSync.MOVE if after_sync.startswith("move:") else AfterSync(after_sync)


def is_marked(flags: frozenset[str], action: AfterSync, kind: str | None) -> bool:
    """Whether a message still in the folder shows the after-sync step (`kind`: its stored row's, if any)."""
    if action is AfterSync.KEEP:
        return True
    if action is AfterSync.SEEN:
        return SEEN in flags
    if action is AfterSync.DELETE:
        # Only the header of a too large message is stored: the poller never deletes it.
        return kind == MessageKind.TOO_LARGE or DELETED in flags
    return False  # move: it should have left the folder


def polled_range(facts: FolderFacts) -> range:
    """The UIDs the poller has passed and should have stored: above the initial-sync line, up to its position."""
    if facts.polled_uidvalidity != facts.uidvalidity:
        return range(0)
    return range(facts.start_uid + 1, facts.last_uid + 1)


def unmatched_uids(facts: FolderFacts) -> list[int]:
    """The UIDs the poller passed that no row holds by its key: look them up by their bytes before deciding."""
    passed = polled_range(facts)
    return sorted(uid for uid in facts.server if uid in passed and uid not in facts.stored)


def audit_folder(facts: FolderFacts, action: AfterSync) -> FolderAudit:
    """Compare one folder on the server with what was stored; return every discrepancy, by UID."""
    passed = polled_range(facts)
    changed = facts.polled_uidvalidity is not None and facts.polled_uidvalidity != facts.uidvalidity
    findings = []
    before_start = 0
    for uid in sorted(facts.server):
        flags, kind = facts.server[uid], facts.stored.get(uid)
        if facts.polled_uidvalidity is None or changed or uid > facts.last_uid:
            finding = None if kind is not None else Finding.NOT_YET_POLLED
        elif uid not in passed:
            before_start += kind is None
            finding = None
        elif kind is None:
            marked = (action is AfterSync.SEEN and SEEN in flags) or (action is AfterSync.DELETE and DELETED in flags)
            finding = Finding.MARKED_NOT_STORED if marked else Finding.MISSING
        else:
            finding = None if is_marked(flags, action, kind) else Finding.STORED_NOT_MARKED
        if finding is not None:
            findings.append(Discrepancy(facts.folder, uid, finding))
    stored_kinds = [facts.stored[uid] for uid in facts.server if uid in facts.stored]
    return FolderAudit(
        folder=facts.folder,
        uidvalidity=facts.uidvalidity,
        uidvalidity_changed=changed,
        on_server=len(facts.server),
        stored=len(stored_kinds),
        flagged=sum(1 for kind in stored_kinds if kind in FLAGGED_KINDS),
        before_start=before_start,
        findings=tuple(findings),
    )


def to_import(audit: FolderAudit) -> list[int]:
    """The UIDs `--fix` imports: every message on the server not stored (missing, marked, or not yet polled)."""
    wanted = (Finding.MISSING, Finding.MARKED_NOT_STORED, Finding.NOT_YET_POLLED)
    return [d.uid for d in audit.findings if d.finding in wanted]


def to_mark(audit: FolderAudit) -> list[int]:
    """The UIDs `--fix` marks on the server: stored, but not marked."""
    return [d.uid for d in audit.findings if d.finding is Finding.STORED_NOT_MARKED]


def is_silent_fix(sent_at: datetime | None, now: datetime) -> bool:
    """Decide whether `--fix` imports a message without any mail: its Date is unknown, or older than FRESH_FOR.

    A fresh one is imported like any new mail (receipt, agents' notification): that is what the poll should have done.
    """
    return sent_at is None or now - sent_at > FRESH_FOR


def next_audit_at(now: datetime, hour: int, zone: tzinfo) -> datetime:
    """The next time after `now` that the clock in `zone` shows `hour`:00 (the nightly audit), in UTC as stored."""
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), time(hour), tzinfo=zone)
    while candidate <= local:
        candidate = datetime.combine(candidate.date() + timedelta(days=1), time(hour), tzinfo=zone)
    return candidate.astimezone(UTC)


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters: line breaks become spaces, a longer text ends in an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


def summary_counts(audits: list[FolderAudit]) -> dict[str, int]:
    """The counts one audit of a mailbox reports: on the server, stored, flagged, and each finding."""
    counts = {
        "on_server": sum(a.on_server for a in audits),
        "stored": sum(a.stored for a in audits),
        "flagged": sum(a.flagged for a in audits),
        "before_start": sum(a.before_start for a in audits),
    }
    for finding in Finding:
        counts[finding.value] = sum(a.count(finding) for a in audits)
    return counts


def summary_line(mailbox: str, counts: Mapping[str, int], changed: list[str]) -> str:
    """`mailbox support: 12 on the server, 12 stored (1 flagged); 0 missing, 0 marked on the server but not stored, ...`"""
    problems = sum(counts.get(f.value, 0) for f in PROBLEMS)
    line = (
        f"mailbox {mailbox}: {counts['on_server']} on the server, {counts['stored']} stored "
        f"({counts['flagged']} flagged); {counts[Finding.MISSING]} missing, "
        f"{counts[Finding.MARKED_NOT_STORED]} marked on the server but not stored, "
        f"{counts[Finding.STORED_NOT_MARKED]} stored but not marked, {counts[Finding.NOT_YET_POLLED]} not yet polled"
    )
    if counts.get("before_start"):
        line += f", {counts['before_start']} before the first poll (initial_sync new-only)"
    for folder in changed:
        line += f"; folder {folder}: UIDVALIDITY changed, the next poll reads it again"
    return line + ("" if problems else "; nothing lost")
