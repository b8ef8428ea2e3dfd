"""Read-only queries for `mailbridge status`: per mailbox health and folder positions, the outbox backlog, mail
held and quarantined, tickets by status and past their first-response time, the daemon jobs' health.

Takes a session and the settings (and, for the SLA count, `now` and the business calendar), returns a frozen
StatusReport; writes nothing. `health_figures` hands it to the `status --check` decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from mailbridge.base.clock import utc
from mailbridge.base.config.settings import Settings
from mailbridge.decisions.business_hours import BusinessCalendar, due_at
from mailbridge.decisions.kinds import MessageKind, OutboxStatus, TicketStatus
from mailbridge.decisions.monitoring import FailingJob, HealthFigures, MailboxFigures
from mailbridge.decisions.own_addresses import undelivered_contacts
from mailbridge.store import contacts
from mailbridge.store.models import Contact, JobHealth, MailboxHealth, MailboxState, Message, OutboxMail, Ticket

UNSENT = (OutboxStatus.QUEUED, OutboxStatus.SENDING)


@dataclass(frozen=True)
class MailboxStatus:
    name: str
    folders: dict[str, int]  # folder -> last UID stored
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    failing_since: datetime | None
    retry_at: datetime | None


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
    *, session: Session, settings: Settings, now: datetime | None = None, calendar: BusinessCalendar | None = None
) -> StatusReport:
    """Collect what `mailbridge status` prints; with `now` and `calendar`, count the tickets past their SLA too."""
    mailboxes = tuple(_mailbox_status(session, m.name) for m in settings.mailboxes)
    unsent = select(func.count(), func.min(OutboxMail.created_at)).where(OutboxMail.status.in_(UNSENT))
    depth, oldest = session.exec(unsent).one()
    outbox = _count_by(session, OutboxMail.status, [s.value for s in OutboxStatus])
    tickets = _count_by(session, Ticket.status, [s.value for s in TicketStatus])
    # Quarantined rows open no ticket: the ticket_id index narrows the scan to unthreaded mail.
    flagged: dict[str, int] = dict.fromkeys([MessageKind.QUARANTINED, MessageKind.TOO_LARGE], 0)
    flagged.update(
        session.exec(
            select(Message.kind, func.count())
            .where(Message.ticket_id.is_(None), Message.kind.in_(list(flagged)))
            .group_by(Message.kind)
        ).all()
    )
    breached = _count_sla_breached(session, settings, now, calendar) if now and calendar else None
    return StatusReport(
        mailboxes,
        depth,
        outbox[OutboxStatus.HELD],
        utc(oldest),
        quarantined=flagged[MessageKind.QUARANTINED],
        too_large=flagged[MessageKind.TOO_LARGE],
        sla_breached=breached,
        outbox_by_status=outbox,
        tickets_by_status=tickets,
        jobs=_job_status(session),
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
    )


def _count_by(session: Session, column, values: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(values, 0)
    for value, count in session.exec(select(column, func.count()).group_by(column)):
        counts[value] = count
    return counts


def _count_sla_breached(session: Session, settings: Settings, now: datetime, calendar: BusinessCalendar) -> int:
    """Count open tickets without a person's answer past their due time (the same rule as the SLA timer)."""
    rows = session.exec(
        select(Ticket.created_at, Contact.first_response_hours)
        .join(Contact, Contact.id == Ticket.contact_id)
        .where(
            Ticket.first_response_at.is_(None),
            Ticket.status.not_in([TicketStatus.CLOSED, TicketStatus.SPAM]),
        )
    )
    default_hours = settings.sla.first_response_hours
    return sum(1 for created, hours in rows if now >= due_at(utc(created), hours or default_hours, calendar))


def _mailbox_status(session: Session, name: str) -> MailboxStatus:
    health = session.exec(select(MailboxHealth).where(MailboxHealth.mailbox == name)).first()
    states = session.exec(select(MailboxState).where(MailboxState.mailbox == name).order_by(MailboxState.folder))
    folders = {s.folder: s.last_uid for s in states}
    if health is None:
        return MailboxStatus(name, folders, None, "", None, None, None)
    return MailboxStatus(
        name,
        folders,
        utc(health.last_success_at),
        health.last_error,
        utc(health.last_error_at),
        utc(health.failing_since),
        utc(health.retry_at),
    )


def _job_status(session: Session) -> tuple[JobStatus, ...]:
    return tuple(
        JobStatus(
            row.job,
            utc(row.last_success_at),
            row.last_error,
            utc(row.last_error_at),
            utc(row.failing_since),
            utc(row.retry_at),
        )
        for row in session.exec(select(JobHealth).order_by(JobHealth.job))
    )


def contact_address_warnings(session: Session, settings: Settings) -> list[str]:
    """One line per saving Contact whose address no polled mailbox receives: replies to its mail never come back."""
    # A forward-only Contact's address is where its mail goes, not one that must come back to us.
    known = [(c.name, c.address) for c in contacts.contact_addresses(session) if c.save_messages]
    return [
        f"contact {name!r} ({address}): no [[mailboxes]] table receives this address (as its login or in its "
        "`addresses`), so replies to its mail never come back"
        for name, address in undelivered_contacts(known, settings.mailboxes)
    ]
