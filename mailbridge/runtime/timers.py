"""Stage: the ticket timers. Auto-close of tickets waiting on the customer, and SLA escalation.

The jobs (`runtime.jobs`) call `close_idle(app, now)` and `check_sla(app, now)` with the one clock's
`now`. Each ticket is decided by a pure function (`lifecycle.plan_auto_close`, `lifecycle.sla_state`)
and changed, with its mail queued, in its own transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import select

from mailbridge.base.clock import utc
from mailbridge.decisions.business_hours import BusinessCalendar, build_calendar, due_at
from mailbridge.decisions.kinds import EventKind, TicketStatus
from mailbridge.decisions.lifecycle import SHORTEST_AUTO_CLOSE, SlaState, plan_auto_close, sla_state
from mailbridge.runtime.app import App
from mailbridge.service.notices import enqueue_sla_report, enqueue_transition_mails
from mailbridge.store import db, tickets
from mailbridge.store.models import Contact, Ticket

log = logging.getLogger(__name__)


def close_idle(app: App, now: datetime) -> int:
    """Close every ticket that waited on its customer for its Contact's auto_close_days; return how many."""
    with db.transaction(app.engine) as session:
        candidates = [
            t.id
            for t in session.exec(
                select(Ticket).where(
                    Ticket.status == TicketStatus.WAITING, Ticket.status_changed_at <= now - SHORTEST_AUTO_CLOSE
                )
            )
        ]
    closed = 0
    for ticket_id in candidates:
        with db.transaction(app.engine) as session:
            ticket = session.get(Ticket, ticket_id)
            contact = session.get(Contact, ticket.contact_id)
            days = contact.auto_close_days or app.settings.support.auto_close_days
            transition = plan_auto_close(TicketStatus(ticket.status), utc(ticket.status_changed_at), now, days)
            if transition is None:
                continue
            tickets.apply(session=session, ticket=ticket, transition=transition, actor="system", now=now)
            enqueue_transition_mails(
                app.mail, session=session, ticket=ticket, transition=transition, now=now, extra={"days": days}
            )
            closed += 1
            log.info("auto-closed ticket=%s after_days=%s", ticket.number, days)
    return closed


# Unanswered tickets not reported yet: read as plain rows, so that a large backlog costs no ORM object each.
_UNREPORTED = select(Ticket.id, Ticket.created_at, Ticket.contact_id).where(
    Ticket.first_response_at.is_(None),
    Ticket.sla_reported_at.is_(None),
    Ticket.status.not_in([TicketStatus.CLOSED, TicketStatus.SPAM]),
)


def check_sla(app: App, now: datetime) -> int:
    """Report every unanswered ticket about to breach or past its first-response time, once; return how many.

    Every unanswered ticket not reported yet is a candidate, and it runs every minute. The candidates are read as
    rows and decided in one pass (their Contact's hours read once); only the tickets to report are loaded, each in
    its own transaction. Loading every candidate as a Ticket and opening a transaction for each made each run's
    memory and time grow with the backlog (issue 18's soak: with 8,553 unanswered tickets
    a run took 60 s and 17 MB, on a loaded machine).
    """
    sla = app.settings.sla
    calendar = build_calendar(sla, range(now.year - 1, now.year + 2))
    with db.transaction(app.engine) as session:
        hours_of = {contact.id: contact.first_response_hours for contact in session.exec(select(Contact))}
        due_now = []
        for ticket_id, created_at, contact_id in db.run(session, _UNREPORTED):
            hours = hours_of.get(contact_id) or sla.first_response_hours
            if _sla_of(utc(created_at), hours, now, calendar, sla.warn_before_hours)[0] is not SlaState.OK:
                due_now.append(ticket_id)
    reported = 0
    for ticket_id in due_now:
        with db.transaction(app.engine) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None or ticket.first_response_at is not None or ticket.sla_reported_at is not None:
                continue  # answered or reported since the pass above
            contact = session.get(Contact, ticket.contact_id)
            hours = contact.first_response_hours or sla.first_response_hours
            state, due = _sla_of(utc(ticket.created_at), hours, now, calendar, sla.warn_before_hours)
            if state is SlaState.OK:
                continue
            _report(app, session, ticket, contact, state, due, hours, now)
            reported += 1
    return reported


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
