"""Stage: the ticket timers. Auto-close of tickets left waiting (or in a Contact's other auto_close_statuses), the
reminder before it, and SLA escalation.

The jobs (`runtime.jobs`) call `close_idle(app, now)` and `check_sla(app, now)` with the one clock's
`now`. Each ticket is decided by a pure function (`lifecycle.plan_auto_close`, `lifecycle.sla_state`)
and changed, with its mail queued, in its own transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, or_
from sqlmodel import select

from mailbridge.base.clock import utc
from mailbridge.base.config.settings import SupportSettings
from mailbridge.decisions.business_hours import BusinessCalendar, calendar_of, contact_calendars, due_at
from mailbridge.decisions.kinds import EventKind, MailKind, TicketStatus
from mailbridge.decisions.lifecycle import (
    SHORTEST_AUTO_CLOSE,
    SlaState,
    auto_close_statuses,
    is_reminder_due,
    plan_auto_close,
    sla_candidates,
    sla_state,
)
from mailbridge.runtime.app import App
from mailbridge.service.notices import enqueue_customer_notice, enqueue_sla_report, enqueue_transition_mails
from mailbridge.store import db, outbox_queue, tickets
from mailbridge.store.models import Contact, Ticket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AutoClosePolicy:
    """A Contact's auto-close: after how many days, from which statuses, reminded how many hours before."""

    days: int
    statuses: frozenset[TicketStatus]
    reminder_hours: float


def auto_close_policy(contact: Contact, support: SupportSettings) -> AutoClosePolicy:
    """The Contact's own values, else [support]'s (auto_close_days, auto_close_reminder_hours); waiting by default."""
    reminder = contact.auto_close_reminder_hours
    return AutoClosePolicy(
        days=contact.auto_close_days or support.auto_close_days,
        statuses=auto_close_statuses(contact.auto_close_statuses),
        reminder_hours=support.auto_close_reminder_hours if reminder is None else reminder,
    )


def close_idle(app: App, now: datetime) -> int:
    """Remind, then close, every ticket left in its Contact's auto_close_statuses for auto_close_days; return how
    many closed.

    The candidates are read as rows (no Contact closes sooner than SHORTEST_AUTO_CLOSE, less its reminder hours)
    and decided by pure functions; each ticket to remind or close is changed in its own transaction.
    """
    with db.transaction(app.engine) as session:
        policies = {c.id: auto_close_policy(c, app.settings.support) for c in session.exec(select(Contact))}
        statuses = sorted(set().union(*(p.statuses for p in policies.values())) or {TicketStatus.WAITING})
        earliest = max([0.0, *(p.reminder_hours for p in policies.values())])
        rows = db.run(
            session,
            select(Ticket.id, Ticket.status, Ticket.status_changed_at, Ticket.contact_id).where(
                Ticket.status.in_(statuses),
                Ticket.status_changed_at <= now - SHORTEST_AUTO_CLOSE + timedelta(hours=earliest),
            ),
        ).all()
    closed = 0
    for ticket_id, status, since, contact_id in rows:
        policy = policies.get(contact_id)
        if policy is None:
            continue
        args = (TicketStatus(status), utc(since), now, policy.days)
        if plan_auto_close(*args, policy.statuses) is not None:
            closed += _close(app, ticket_id, policy, now)
        elif is_reminder_due(*args, policy.reminder_hours, policy.statuses):
            _remind(app, ticket_id, policy, now)
    return closed


def _close(app: App, ticket_id: int, policy: AutoClosePolicy, now: datetime) -> int:
    with db.transaction(app.engine) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            return 0
        was = TicketStatus(ticket.status)
        transition = plan_auto_close(was, utc(ticket.status_changed_at), now, policy.days, policy.statuses)
        if transition is None:
            return 0  # changed since the pass above
        tickets.apply(session=session, ticket=ticket, transition=transition, actor="system", now=now)
        extra = {"days": policy.days, "waited_on_customer": was is TicketStatus.WAITING}
        enqueue_transition_mails(app.mail, session=session, ticket=ticket, transition=transition, now=now, extra=extra)
        log.info("auto-closed ticket=%s status=%s after_days=%s", ticket.number, was, policy.days)
    return 1


def _remind(app: App, ticket_id: int, policy: AutoClosePolicy, now: datetime) -> None:
    with db.transaction(app.engine) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None or ticket.status_changed_at is None:
            return
        since = utc(ticket.status_changed_at)
        if not is_reminder_due(TicketStatus(ticket.status), since, now, policy.days, policy.reminder_hours):
            return  # the customer answered since the pass above
        # Once per waiting period: a new period (the ticket waits again after an answer) has a new key.
        key = f"{MailKind.AUTO_CLOSE_REMINDER}:{ticket.id}:{since.isoformat()}"
        if outbox_queue.is_queued(session=session, dedupe_key=key):
            return
        extra = {"days": policy.days, "hours": f"{policy.reminder_hours:g}"}
        enqueue_customer_notice(
            app.mail,
            session=session,
            ticket=ticket,
            kind=MailKind.AUTO_CLOSE_REMINDER,
            dedupe_key=key,
            now=now,
            extra=extra,
        )
        log.info("auto-close reminder ticket=%s hours_before=%s", ticket.number, policy.reminder_hours)


# Unanswered tickets not reported yet: read as plain rows, so that a large backlog costs no ORM object each.
_UNREPORTED = select(Ticket.id, Ticket.created_at, Ticket.contact_id).where(
    Ticket.first_response_at.is_(None),
    Ticket.sla_reported_at.is_(None),
    Ticket.status.not_in([TicketStatus.CLOSED, TicketStatus.SPAM, TicketStatus.MERGED]),
)


def check_sla(app: App, now: datetime) -> int:
    """Report every unanswered ticket about to breach or past its first-response time, once; return how many.

    It runs every minute. Only the candidates are read: unanswered tickets not reported yet and old enough that
    their warning time can have come (`lifecycle.sla_candidates`: created before the cutoff of their Contact's
    hours), so the tickets of the last working hours, most of a backlog, are not read at all. The candidates are
    read as rows and decided in one pass (their Contact's hours read once); only the tickets to report are loaded,
    each in its own transaction. Loading every unanswered ticket as a Ticket and opening a transaction for each made
    each run's memory and time grow with the backlog (issue 18's soak: with 8,553 unanswered tickets a run took
    60 s and 17 MB, on a loaded machine).
    """
    sla = app.settings.sla
    calendar = calendar_of(sla, now.year)
    with db.transaction(app.engine) as session:
        contacts = {contact.id: contact for contact in session.exec(select(Contact))}
        hours_of = {contact_id: contact.first_response_hours for contact_id, contact in contacts.items()}
        # A Contact's [sla.contacts."NAME"] calendar, else [sla]'s: the hours its receipts promise (expectation.py).
        calendars = contact_calendars(sla, {i: c.name for i, c in contacts.items()}, now.year)
        groups = sla_candidates(hours_of, sla.first_response_hours, sla.warn_before_hours, now, calendar, calendars)
        due_now = []
        for ticket_id, created_at, contact_id in db.run(session, _UNREPORTED.where(_created_by_cutoff(groups))):
            hours = hours_of.get(contact_id) or sla.first_response_hours
            own = calendars.get(contact_id, calendar)
            if _sla_of(utc(created_at), hours, now, own, sla.warn_before_hours)[0] is not SlaState.OK:
                due_now.append(ticket_id)
    reported = 0
    for ticket_id in due_now:
        with db.transaction(app.engine) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None or ticket.first_response_at is not None or ticket.sla_reported_at is not None:
                continue  # answered or reported since the pass above
            contact = session.get(Contact, ticket.contact_id)
            hours = contact.first_response_hours or sla.first_response_hours
            own = calendars.get(ticket.contact_id, calendar)
            state, due = _sla_of(utc(ticket.created_at), hours, now, own, sla.warn_before_hours)
            if state is SlaState.OK:
                continue
            _report(app, session, ticket, contact, state, due, hours, now)
            reported += 1
    return reported


def _created_by_cutoff(groups: dict[datetime | None, tuple[int, ...]]) -> ColumnElement[bool]:
    """The SQL of `sla_candidates`: a ticket of these Contacts created up to their cutoff (any, for None)."""
    return or_(
        false(),
        *(
            Ticket.contact_id.in_(ids)
            if cutoff is None
            else and_(Ticket.contact_id.in_(ids), Ticket.created_at <= cutoff)
            for cutoff, ids in groups.items()
        ),
    )


def _sla_of(
    created_at: datetime, hours: float, now: datetime, calendar: BusinessCalendar, warn_before_hours: float
) -> tuple[SlaState, datetime]:
    """The SLA state of a ticket created at `created_at` with `hours` to a first response, and its due time."""
    due = due_at(created_at, hours, calendar)
    return sla_state(due, now, warn_before_hours, calendar), due


def _report(
    app: App, session, ticket: Ticket, contact: Contact, state: SlaState, due: datetime, hours: float, now: datetime
) -> None:
    address = contact.escalation_address or app.settings.support.admin_address
    ticket.sla_reported_at = now
    reason = f"first response {state}: due {due.isoformat(timespec='minutes')}"
    if address:
        enqueue_sla_report(
            app.mail,
            session=session,
            ticket=ticket,
            address=address,
            breached=state is SlaState.BREACHED,
            due=due,
            hours=hours,
            now=now,
        )
        reason += f", reported to {address}"
    else:
        log.warning("sla %s ticket=%s: no escalation_address and no [support] admin_address", state, ticket.number)
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor="system",
        kind=EventKind.SLA_BREACHED if state is SlaState.BREACHED else EventKind.SLA_WARNING,
        reason=reason,
        now=now,
    )
