"""Decision: (ticket status, event) -> Transition. Pure; intake, the CLI and the timers apply what it returns.

Statuses: new -> open (an agent took it) -> waiting (answered, waiting on the customer) -> closed,
plus pending1/pending2 ("answer later"), spam, and merged (joined another ticket; terminal). Also the auto-close and SLA decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from mailbridge.base.errors import CommandError
from mailbridge.decisions.business_hours import BusinessCalendar, business_hours_between, start_before
from mailbridge.decisions.kinds import MailKind, TicketStatus


class SlaState(StrEnum):
    OK = "ok"
    WARNING = "warning"  # due within warn_before_hours working hours
    BREACHED = "breached"


@dataclass(frozen=True)
class Transition:
    new_status: TicketStatus | None  # None: the status stays
    mails: tuple[MailKind, ...]
    reason: str


_ACTIVE = (TicketStatus.OPEN, TicketStatus.WAITING, TicketStatus.PENDING1, TicketStatus.PENDING2)
# Where an agent may move a ticket from each status. Nothing goes back to `new`.
ALLOWED = {
    TicketStatus.NEW: frozenset({*_ACTIVE, TicketStatus.CLOSED, TicketStatus.SPAM}),
    **{s: frozenset({*_ACTIVE, TicketStatus.CLOSED, TicketStatus.SPAM} - {s}) for s in _ACTIVE},
    # An agent who answers a closed ticket puts it back to waiting on the customer.
    TicketStatus.CLOSED: frozenset({TicketStatus.OPEN, TicketStatus.WAITING}),
    TicketStatus.SPAM: frozenset({TicketStatus.OPEN, TicketStatus.CLOSED}),
    # A merged ticket lives on in the ticket it joined (decisions.merge): nothing moves it again.
    TicketStatus.MERGED: frozenset(),
}


def plan_customer_message(status: TicketStatus | None, *, may_auto_reply: bool, silent: bool) -> Transition:
    """Plan what a customer message does to its ticket; `status` None means a new ticket."""
    answer = may_auto_reply and not silent
    if status is None:
        return Transition(TicketStatus.NEW, (MailKind.RECEIPT,) if answer else (), "customer opened a ticket")
    if status in (TicketStatus.WAITING, TicketStatus.CLOSED):
        return Transition(TicketStatus.OPEN, (), "customer replied")
    return Transition(None, (), "customer added a message")


def plan_automatic_message(status: TicketStatus | None) -> Transition:
    """Plan what automatic mail (out-of-office, lists) does: it never changes a ticket or gets an answer."""
    return Transition(TicketStatus.NEW if status is None else None, (), "automatic message stored")


def plan_status_change(
    status: TicketStatus, target: TicketStatus, *, reason: str = "", answered: bool = False
) -> Transition:
    """Plan an agent's status change; leaving `new` for work sends the "we started handling" notice.

    `answered`: the move comes with an agent's answer to the customer, which says more than the notice would.

    Raises: CommandError when the change is not allowed.
    """
    if target == status:
        return Transition(None, (), reason or f"already {status}")
    if target not in ALLOWED[status]:
        allowed = ", ".join(sorted(ALLOWED[status]))
        raise CommandError(f"a {status} ticket cannot become {target} (allowed: {allowed})")
    # Closing or flagging spam straight from `new` is not handling the request: no notice. Nor is one sent when the
    # first move is an answer: the customer would get "we started handling" after (or beside) the answer itself.
    starts_handling = status is TicketStatus.NEW and target in _ACTIVE and not answered
    mails: tuple[MailKind, ...] = (MailKind.HANDLING_STARTED,) if starts_handling else ()
    # A ticket closed after work may ask for a rating (answered and closed in one reply is work too); spam, or one
    # closed unhandled from `new`, never does.
    handled = status not in (TicketStatus.NEW, TicketStatus.SPAM) or (status is TicketStatus.NEW and answered)
    if target is TicketStatus.CLOSED and handled:
        mails += (MailKind.SURVEY,)
    return Transition(target, mails, reason or f"agent set {target}")


# No Contact closes a ticket that waited less than this (auto_close_days is at least 1): the timers' cheap first cut.
SHORTEST_AUTO_CLOSE = timedelta(days=1)


# What a Contact closes by itself unless it says otherwise (Contact.auto_close_statuses).
DEFAULT_AUTO_CLOSE_STATUSES = frozenset({TicketStatus.WAITING})
# What auto_close_statuses may name: the active statuses (`new` is never left unread to close, nor spam).
AUTO_CLOSABLE = frozenset(_ACTIVE)


def auto_close_statuses(text: str | None) -> frozenset[TicketStatus]:
    """Read a Contact's auto_close_statuses ("waiting,open"); None or empty: waiting only.

    Raises: CommandError naming a status that is not one of the active statuses.
    """
    names = [name.strip().lower() for name in (text or "").split(",") if name.strip()]
    if not names:
        return DEFAULT_AUTO_CLOSE_STATUSES
    unknown = [name for name in names if name not in AUTO_CLOSABLE]
    if unknown:
        allowed = ", ".join(sorted(AUTO_CLOSABLE))
        raise CommandError(f"--auto-close-statuses: expected statuses out of {allowed}, got {unknown[0]!r}")
    return frozenset(TicketStatus(name) for name in names)


def plan_auto_close(
    status: TicketStatus,
    waiting_since: datetime | None,
    now: datetime,
    days: int,
    statuses: frozenset[TicketStatus] = DEFAULT_AUTO_CLOSE_STATUSES,
) -> Transition | None:
    """Close a ticket left in one of `statuses` (waiting on the customer by default) for `days`; None when not due."""
    if status not in statuses or waiting_since is None or now - waiting_since < timedelta(days=days):
        return None
    reason = f"no answer from the customer for {days} days"
    if status is not TicketStatus.WAITING:
        reason = f"left {status} for {days} days"
    return Transition(TicketStatus.CLOSED, (MailKind.AUTO_CLOSED, MailKind.SURVEY), reason)


def is_reminder_due(
    status: TicketStatus,
    waiting_since: datetime | None,
    now: datetime,
    days: int,
    reminder_hours: float,
    statuses: frozenset[TicketStatus] = DEFAULT_AUTO_CLOSE_STATUSES,
) -> bool:
    """Tell whether a ticket waiting on its customer is within `reminder_hours` of its auto-close, and not yet closed.

    Only `waiting` is reminded: the customer's answer is what keeps such a ticket open (an answer moves it to
    `open` and ends the waiting period). No reminder when it would come before the waiting began.
    """
    if status is not TicketStatus.WAITING or status not in statuses or waiting_since is None or reminder_hours <= 0:
        return False
    closes_at = waiting_since + timedelta(days=days)
    remind_at = closes_at - timedelta(hours=reminder_hours)
    return waiting_since < remind_at <= now < closes_at


def sla_state(due: datetime, now: datetime, warn_before_hours: float, calendar: BusinessCalendar) -> SlaState:
    """Tell whether a first response due at `due` is breached, about to be, or fine."""
    if now >= due:
        return SlaState.BREACHED
    if business_hours_between(now, due, calendar) <= warn_before_hours:
        return SlaState.WARNING
    return SlaState.OK


# Added to an SLA cutoff: covers the rounding of business_hours_between (float hours) against due_at (timedelta).
SLA_CUTOFF_MARGIN = timedelta(minutes=1)


def sla_cutoff(hours: float, warn_before_hours: float, now: datetime, calendar: BusinessCalendar) -> datetime | None:
    """The latest creation time of a ticket with `hours` to its first response whose `sla_state` at `now` can be
    other than OK; None when any ticket's can (its warning starts as it is created).

    A ticket created later has had fewer than `hours - warn_before_hours` working hours since, so more than
    `warn_before_hours` are left before it is due: OK. The SLA timer reads only tickets created up to the cutoff and
    decides each of them with `sla_state`.
    """
    lead = hours - warn_before_hours
    if lead <= 0:
        return None
    start = start_before(now, lead, calendar)
    return None if start is None else start + SLA_CUTOFF_MARGIN


def sla_candidates(
    hours_of: Mapping[int, float | None],
    default_hours: float,
    warn_before_hours: float,
    now: datetime,
    calendar: BusinessCalendar,
    calendars: Mapping[int, BusinessCalendar] | None = None,
) -> dict[datetime | None, tuple[int, ...]]:
    """Which unanswered tickets the SLA timer reads: by cutoff (None: every one), the Contacts whose tickets created
    up to it are candidates. `hours_of` is each Contact's own first_response_hours (None: `default_hours`);
    `calendars` the Contacts' own business calendars (the others count in `calendar`)."""
    cutoff_of: dict[tuple[float, BusinessCalendar], datetime | None] = {}
    groups: dict[datetime | None, list[int]] = {}
    for contact_id, own in sorted(hours_of.items()):
        hours = own or default_hours
        own_calendar = (calendars or {}).get(contact_id, calendar)
        if (hours, own_calendar) not in cutoff_of:
            cutoff_of[hours, own_calendar] = sla_cutoff(hours, warn_before_hours, now, own_calendar)
        groups.setdefault(cutoff_of[hours, own_calendar], []).append(contact_id)
    return {cutoff: tuple(ids) for cutoff, ids in groups.items()}
