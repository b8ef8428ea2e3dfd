"""Read-only queries for `mailbridge status`: per mailbox health and folder positions, the outbox backlog, mail
held and quarantined, tickets by status and past their first-response time, the daemon jobs' health.

Takes a `store.reader.Reader` (plain SQL: `status` starts in well under a second; the daemon passes
`reader_of(session)`) and the settings (and, for the SLA count, `now` and the business calendar), returns a frozen
StatusReport; writes nothing. `health_figures` hands it to the `status --check` decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mailbridge.base.config.settings import Settings
from mailbridge.decisions.business_hours import BusinessCalendar, contact_calendars, due_at
from mailbridge.decisions.kinds import MessageKind, OutboxStatus, TicketStatus
from mailbridge.decisions.monitoring import AuditFigures, FailingJob, HealthFigures, MailboxFigures
from mailbridge.decisions.own_addresses import undelivered_contacts
from mailbridge.store.reader import Reader, in_list, instant

UNSENT = (OutboxStatus.QUEUED, OutboxStatus.SENDING)
HEALTH = "last_success_at, last_error, last_error_at, failing_since, retry_at"


@dataclass(frozen=True)
class AuditStatus:
    """The last audit of a mailbox (`mailboxes audit`, the daemon's nightly run)."""

    ran_at: datetime | None
    missing: int  # on the server, not stored
    marked_not_stored: int
    stored_not_marked: int
    not_yet_polled: int
    error: str  # the audit could not run: why

    @property
    def problems(self) -> int:
        return self.missing + self.marked_not_stored + self.stored_not_marked


@dataclass(frozen=True)
class MailboxStatus:
    name: str
    folders: dict[str, int]  # folder -> last UID stored
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    failing_since: datetime | None
    retry_at: datetime | None
    audit: AuditStatus | None = None  # None: never audited


@dataclass(frozen=True)
class JobStatus:
    """How a daemon job or loop fares (deliver_outbox, close_idle_tickets, check_sla, timers)."""

    name: str
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    failing_since: datetime | None  # None: its last run succeeded
    retry_at: datetime | None


@dataclass(frozen=True)
class StatusReport:
    mailboxes: tuple[MailboxStatus, ...]
    outbox_depth: int  # queued or sending
    outbox_held: int
    oldest_unsent_at: datetime | None
    quarantined: int = 0
    too_large: int = 0  # over max_message_bytes: kept as their header (IMAP) or raw, never parsed
    sla_breached: int | None = None  # None: not counted (no `now` and calendar given)
    outbox_by_status: dict[str, int] = field(default_factory=dict)  # every OutboxStatus, 0 when none
    tickets_by_status: dict[str, int] = field(default_factory=dict)  # every TicketStatus, 0 when none
    jobs: tuple[JobStatus, ...] = ()  # the daemon's jobs that have run, by name


def gather_status(
    *, reader: Reader, settings: Settings, now: datetime | None = None, calendar: BusinessCalendar | None = None
) -> StatusReport:
    """Collect what `mailbridge status` prints; with `now` and `calendar`, count the tickets past their SLA too."""
    mailboxes = tuple(_mailbox_status(reader, m.name) for m in settings.mailboxes)
    unsent, params = in_list("s", (s.value for s in UNSENT))
    oldest = reader.rows(f"SELECT min(created_at) AS oldest FROM outboxmail WHERE status IN {unsent}", params)
    outbox = _count_by(reader, "outboxmail", [s.value for s in OutboxStatus])
    tickets = _count_by(reader, "ticket", [s.value for s in TicketStatus])
    # Quarantined rows open no ticket: the ticket_id index narrows the scan to unthreaded mail.
    flagged: dict[str, int] = dict.fromkeys([MessageKind.QUARANTINED, MessageKind.TOO_LARGE], 0)
    kinds, params = in_list("k", flagged)
    for row in reader.rows(
        f"SELECT kind, count(*) AS n FROM message WHERE ticket_id IS NULL AND kind IN {kinds} GROUP BY kind", params
    ):
        flagged[row["kind"]] = row["n"]
    breached = _count_sla_breached(reader, settings, now, calendar) if now and calendar else None
    return StatusReport(
        mailboxes,
        sum(outbox[s] for s in UNSENT),
        outbox[OutboxStatus.HELD],
        instant(oldest[0]["oldest"]),
        quarantined=flagged[MessageKind.QUARANTINED],
        too_large=flagged[MessageKind.TOO_LARGE],
        sla_breached=breached,
        outbox_by_status=outbox,
        tickets_by_status=tickets,
        jobs=_job_status(reader),
    )


def health_figures(report: StatusReport) -> HealthFigures:
    """The figures the `status --check` decision takes."""
    return HealthFigures(
        mailboxes=tuple(
            MailboxFigures(m.name, m.last_success_at, m.failing_since, m.last_error) for m in report.mailboxes
        ),
        unsent=report.outbox_depth,
        oldest_unsent_at=report.oldest_unsent_at,
        held=report.outbox_held,
        quarantined=report.quarantined,
        sla_breached=report.sla_breached or 0,
        failing_jobs=tuple(
            FailingJob(j.name, j.failing_since, j.last_error) for j in report.jobs if j.failing_since is not None
        ),
        audits=tuple(
            AuditFigures(m.name, a.ran_at, a.missing, a.marked_not_stored, a.stored_not_marked, a.error)
            for m in report.mailboxes
            if (a := m.audit) is not None
        ),
    )


def _count_by(reader: Reader, table: str, values: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(values, 0)
    for row in reader.rows(f"SELECT status, count(*) AS n FROM {table} GROUP BY status"):
        counts[row["status"]] = row["n"]
    return counts


def _count_sla_breached(reader: Reader, settings: Settings, now: datetime, calendar: BusinessCalendar) -> int:
    """Count open tickets without a person's answer past their due time (the same rule as the SLA timer)."""
    done, params = in_list("s", (TicketStatus.CLOSED.value, TicketStatus.SPAM.value, TicketStatus.MERGED.value))
    rows = reader.rows(
        "SELECT t.created_at, t.contact_id, c.first_response_hours AS hours FROM ticket t "
        f"JOIN contact c ON c.id = t.contact_id WHERE t.first_response_at IS NULL AND t.status NOT IN {done}",
        params,
    )
    default_hours = settings.sla.first_response_hours
    # A Contact with a [sla.contacts."NAME"] calendar counts in it, as the SLA timer does.
    names = {row["id"]: row["name"] for row in reader.rows("SELECT id, name FROM contact")} if rows else {}
    calendars = contact_calendars(settings.sla, names, now.year)
    breached = 0
    for row in rows:
        own = calendars.get(row["contact_id"], calendar)
        breached += now >= due_at(instant(row["created_at"]) or now, row["hours"] or default_hours, own)
    return breached


def _mailbox_status(reader: Reader, name: str) -> MailboxStatus:
    health = reader.first(f"SELECT {HEALTH} FROM mailboxhealth WHERE mailbox = :name", {"name": name})
    states = reader.rows(
        "SELECT folder, last_uid FROM mailboxstate WHERE mailbox = :name ORDER BY folder", {"name": name}
    )
    folders = {s["folder"]: s["last_uid"] for s in states}
    audit = _audit_status(reader, name)
    if health is None:
        return MailboxStatus(name, folders, None, "", None, None, None, audit)
    return MailboxStatus(
        name,
        folders,
        instant(health["last_success_at"]),
        health["last_error"],
        instant(health["last_error_at"]),
        instant(health["failing_since"]),
        instant(health["retry_at"]),
        audit,
    )


def _audit_status(reader: Reader, name: str) -> AuditStatus | None:
    row = reader.first(
        "SELECT ran_at, missing, marked_not_stored, stored_not_marked, not_yet_polled, error FROM mailboxaudit "
        "WHERE mailbox = :name",
        {"name": name},
    )
    if row is None:
        return None
    return AuditStatus(
        instant(row["ran_at"]),
        row["missing"],
        row["marked_not_stored"],
        row["stored_not_marked"],
        row["not_yet_polled"],
        row["error"],
    )


def _job_status(reader: Reader) -> tuple[JobStatus, ...]:
    return tuple(
        JobStatus(
            row["job"],
            instant(row["last_success_at"]),
            row["last_error"],
            instant(row["last_error_at"]),
            instant(row["failing_since"]),
            instant(row["retry_at"]),
        )
        for row in reader.rows(f"SELECT job, {HEALTH} FROM jobhealth ORDER BY job")
    )


def contact_address_warnings(reader: Reader, settings: Settings) -> list[str]:
    """One line per saving Contact whose address no polled mailbox receives: replies to its mail never come back."""
    # A forward-only Contact's address is where its mail goes, not one that must come back to us.
    known = [
        (row["name"], row["email"])
        for row in reader.rows("SELECT name, email, save_messages FROM contact ORDER BY name")
        if row["save_messages"]
    ]
    return [
        f"contact {name!r} ({address}): no [[mailboxes]] table receives this address (as its login or in its "
        "`addresses`), so replies to its mail never come back"
        for name, address in undelivered_contacts(known, settings.mailboxes)
    ]
