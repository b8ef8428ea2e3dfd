"""Decision: (ticket status, event) -> Transition. Pure; intake, the CLI and the timers apply what it returns.

Statuses: new -> open (an agent took it) -> waiting (answered, waiting on the customer) -> closed,
plus pending1/pending2 ("answer later") and spam. Also the auto-close and SLA decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from mailbridge.base.errors import CommandError
from mailbridge.decisions.business_hours import BusinessCalendar, business_hours_between
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


def plan_auto_close(
    status: TicketStatus, waiting_since: datetime | None, now: datetime, days: int
) -> Transition | None:
    """Close a ticket that has waited on the customer for `days`; None when it is not due."""
    if status is not TicketStatus.WAITING or waiting_since is None or now - waiting_since < timedelta(days=days):
        return None
    return Transition(
        TicketStatus.CLOSED, (MailKind.AUTO_CLOSED, MailKind.SURVEY), f"no answer from the customer for {days} days"
    )


def sla_state(due: datetime, now: datetime, warn_before_hours: float, calendar: BusinessCalendar) -> SlaState:
    """Tell whether a first response due at `due` is breached, about to be, or fine."""
    if now >= due:
        return SlaState.BREACHED
    if business_hours_between(now, due, calendar) <= warn_before_hours:
        return SlaState.WARNING
    return SlaState.OK
