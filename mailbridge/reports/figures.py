"""Decision: facts about tickets, ratings and messages -> the figures of `mailbridge stats`. Pure.

`stats.gather_facts` queries the store; `compute_report` turns the facts into a `StatsReport`
(times in business hours of the `[sla]` calendar); `reports.render` prints or writes it.
Percentiles are nearest-rank: p90 of n values is the ceil(0.9 n)-th smallest.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from mailbridge.base.config.rules import WEEKDAYS
from mailbridge.decisions.business_hours import BusinessCalendar, due_at
from mailbridge.decisions.kinds import TicketStatus
from mailbridge.decisions.survey import is_satisfied
from mailbridge.reports.trends import (
    AGE_BANDS,
    Period,
    TrendPoint,
    TrendTicket,
    age_band,
    business_hours,
    choose_bucket,
    compute_trend,
    median,
)

OPEN_STATUSES = ("new", "open", "waiting", "pending1", "pending2")
WAITING_STATUSES = ("new", "open", "waiting")  # the oldest of these are listed
UNASSIGNED = "(unassigned)"
NO_CATEGORY = "(no category)"
LIST_LIMIT = 50  # breaches and comments shown
OLDEST_LIMIT = 10
_INSTANT = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The totals and the list of breaches both ask each ticket's due time.
first_response_due = lru_cache(maxsize=1 << 17)(due_at)


@dataclass(frozen=True)
class TicketFact:
    contact: str
    agent: str | None
    status: str
    created_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    first_response_hours: float  # the SLA target of its Contact
    presale: bool = False  # opened by a first contact naming no order number
    number: str = ""
    subject: str = ""
    category: str | None = None
    agent_name: str | None = None  # the assigned agent's name, else their address


@dataclass(frozen=True)
class RatingFact:
    contact: str
    agent: str | None  # the agent's name, else their address
    score: int
    ticket: str = ""  # its number
    comment: str = ""
    at: datetime | None = None
    category: str | None = None


@dataclass(frozen=True)
class StatsFacts:
    tickets: tuple[TicketFact, ...]  # every ticket matching contact/agent, whatever its dates
    ratings: tuple[RatingFact, ...]  # current ratings given within the period
    reopened: int  # closed -> open changes within the period
    inbound_at: tuple[datetime, ...]  # customer messages stored within the period
    since: datetime | None
    until: datetime | None
    now: datetime


@dataclass(frozen=True)
class Spread:
    count: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class Csat:
    name: str
    count: int
    average: float
    satisfied_percent: float


@dataclass(frozen=True)
class GroupRow:
    """One category's or agent's work: tickets opened and closed in the period, open now, times, CSAT."""

    name: str
    opened: int
    closed: int
    open_now: int
    first_response_median_hours: float | None
    resolution_median_hours: float | None
    csat: Csat | None


@dataclass(frozen=True)
class BreachRow:
    number: str
    subject: str
    contact: str
    agent: str
    created_at: datetime
    due_at: datetime
    first_response_at: datetime | None  # None: still unanswered


@dataclass(frozen=True)
class WaitingRow:
    number: str
    subject: str
    contact: str
    agent: str
    status: str
    created_at: datetime
    age_hours: float  # wall-clock


@dataclass(frozen=True)
class CommentRow:
    ticket: str
    score: int
    comment: str
    agent: str
    at: datetime | None


@dataclass(frozen=True)
class StatsReport:
    since: datetime | None
    until: datetime | None
    opened: int
    closed: int
    reopened: int
    backlog: dict[str, int]
    first_response: Spread
    resolution: Spread
    sla_met: int
    sla_breached: int
    csat_total: Csat | None
    csat_by_contact: tuple[Csat, ...]
    csat_by_agent: tuple[Csat, ...]
    by_hour: dict[int, int] = field(default_factory=dict)  # local hour 0-23 -> customer messages
    by_weekday: dict[str, int] = field(default_factory=dict)  # mon..sun -> customer messages
    presale: int = 0  # of the tickets opened, those marked pre-sale
    timezone: str = "UTC"  # the zone of the buckets, the busiest hours and the times shown
    bucket: str = "day"
    period_start: datetime | None = None  # the first instant of the trend (since, else the oldest ticket)
    period_end: datetime | None = None  # until, but never after now
    trend: tuple[TrendPoint, ...] = ()
    backlog_by_age: dict[str, dict[str, int]] = field(default_factory=dict)  # status -> age band -> tickets
    by_category: tuple[GroupRow, ...] = ()
    by_agent: tuple[GroupRow, ...] = ()
    breaches: tuple[BreachRow, ...] = ()  # the first LIST_LIMIT, by due time
    oldest_waiting: tuple[WaitingRow, ...] = ()
    comments: tuple[CommentRow, ...] = ()  # the latest first, at most LIST_LIMIT


def nearest_rank(values: list[float], percent: float) -> float | None:
    """Return the nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(percent / 100 * len(ordered)), 1) - 1]


def spread(hours: list[float]) -> Spread:
    """Summarise durations in hours: count, median and p90."""
    median = statistics.median(hours) if hours else None
    return Spread(len(hours), _round(median), _round(nearest_rank(hours, 90)))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def is_in(moment: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    """Tell whether a moment falls in [since, until); open ends are unbounded."""
    return moment is not None and (since is None or moment >= since) and (until is None or moment < until)


def sla_outcome(ticket: TicketFact, now: datetime, calendar: BusinessCalendar) -> str:
    """Say whether a ticket's first response was "met", "breached", or is still "pending"."""
    due = first_response_due(ticket.created_at, ticket.first_response_hours, calendar)
    if ticket.first_response_at is not None:
        return "met" if ticket.first_response_at <= due else "breached"
    return "breached" if now > due else "pending"


def csat(name: str, scores: list[int]) -> Csat:
    """Average, count and share of satisfied (4 or 5) of some scores."""
    satisfied = sum(1 for s in scores if is_satisfied(s))
    return Csat(name, len(scores), round(sum(scores) / len(scores), 2), round(100 * satisfied / len(scores), 1))


def csat_by(ratings: tuple[RatingFact, ...], key) -> tuple[Csat, ...]:
    """CSAT per group, largest groups first."""
    groups: dict[str, list[int]] = {}
    for rating in ratings:
        groups.setdefault(key(rating) or UNASSIGNED, []).append(rating.score)
    return tuple(sorted((csat(name, scores) for name, scores in groups.items()), key=lambda c: (-c.count, c.name)))


def busiest(moments: tuple[datetime, ...], zone: ZoneInfo) -> tuple[dict[int, int], dict[str, int]]:
    """Count moments per local hour of day and per weekday, in the report's zone."""
    local = [m.astimezone(zone) for m in moments]
    hours = Counter(m.hour for m in local)
    days = Counter(WEEKDAYS[m.weekday()] for m in local)
    return {h: hours.get(h, 0) for h in range(24)}, {d: days.get(d, 0) for d in WEEKDAYS}


def report_period(facts: StatsFacts, zone: ZoneInfo, bucket: str | None = None) -> Period:
    """The trend's period: since (else the oldest ticket) up to until, but never past now."""
    start = facts.since or min((t.created_at for t in facts.tickets), default=facts.now)
    end = facts.until if facts.until is not None and facts.until <= facts.now else facts.now + _INSTANT
    end = max(end, start)
    return Period(start, end, zone, bucket or choose_bucket(start, end))


def backlog_by_age(tickets: tuple[TicketFact, ...], now: datetime) -> dict[str, dict[str, int]]:
    """Count the unclosed tickets per status and age band (wall-clock age since they were opened)."""
    table = {status: dict.fromkeys(AGE_BANDS, 0) for status in OPEN_STATUSES}
    for ticket in tickets:
        if ticket.status in OPEN_STATUSES:
            table[ticket.status][age_band(ticket.created_at, now)] += 1
    return table


def agent_of(ticket: TicketFact) -> str:
    """The name shown for a ticket's agent: their name, else their address, else "(unassigned)"."""
    return ticket.agent_name or ticket.agent or UNASSIGNED


@dataclass
class _Group:
    opened: list[TicketFact] = field(default_factory=list)
    closed: list[TicketFact] = field(default_factory=list)
    open_now: int = 0
    scores: list[int] = field(default_factory=list)


def group_rows(facts: StatsFacts, calendar: BusinessCalendar, ticket_key, rating_key) -> tuple[GroupRow, ...]:
    """One row per group of tickets (category or agent), the busiest first and the catch-all group last."""
    groups: dict[str, _Group] = {}
    for ticket in facts.tickets:
        opened = is_in(ticket.created_at, facts.since, facts.until)
        closed = ticket.status == "closed" and is_in(ticket.closed_at, facts.since, facts.until)
        if opened or closed or ticket.status in OPEN_STATUSES:
            group = groups.setdefault(ticket_key(ticket), _Group())
            group.opened += [ticket] if opened else []
            group.closed += [ticket] if closed else []
            group.open_now += ticket.status in OPEN_STATUSES
    for rating in facts.ratings:
        groups.setdefault(rating_key(rating), _Group()).scores.append(rating.score)
    rows = [_group_row(name, group, calendar) for name, group in groups.items()]
    return tuple(sorted(rows, key=lambda r: (r.name in (UNASSIGNED, NO_CATEGORY), -r.opened - r.open_now, r.name)))


def _group_row(name: str, group: _Group, calendar: BusinessCalendar) -> GroupRow:
    answered = [
        business_hours(t.created_at, t.first_response_at, calendar)
        for t in group.opened
        if t.first_response_at is not None
    ]
    resolved = [business_hours(t.created_at, t.closed_at, calendar) for t in group.closed if t.closed_at]
    return GroupRow(
        name=name,
        opened=len(group.opened),
        closed=len(group.closed),
        open_now=group.open_now,
        first_response_median_hours=median(answered),
        resolution_median_hours=median(resolved),
        csat=csat(name, group.scores) if group.scores else None,
    )


def breach_rows(facts: StatsFacts, calendar: BusinessCalendar) -> tuple[BreachRow, ...]:
    """The tickets opened in the period whose first response came late or is overdue, the latest due first."""
    rows = [
        BreachRow(
            number=t.number,
            subject=t.subject,
            contact=t.contact,
            agent=agent_of(t),
            created_at=t.created_at,
            due_at=first_response_due(t.created_at, t.first_response_hours, calendar),
            first_response_at=t.first_response_at,
        )
        for t in facts.tickets
        if is_in(t.created_at, facts.since, facts.until) and sla_outcome(t, facts.now, calendar) == "breached"
    ]
    return tuple(sorted(rows, key=lambda r: (r.due_at, r.number), reverse=True)[:LIST_LIMIT])


def oldest_waiting(tickets: tuple[TicketFact, ...], now: datetime) -> tuple[WaitingRow, ...]:
    """The ten oldest tickets that are new, open or waiting, oldest first."""
    waiting = sorted((t for t in tickets if t.status in WAITING_STATUSES), key=lambda t: (t.created_at, t.number))
    return tuple(
        WaitingRow(
            number=t.number,
            subject=t.subject,
            contact=t.contact,
            agent=agent_of(t),
            status=t.status,
            created_at=t.created_at,
            age_hours=round((now - t.created_at).total_seconds() / 3600, 1),
        )
        for t in waiting[:OLDEST_LIMIT]
    )


def comment_rows(ratings: tuple[RatingFact, ...]) -> tuple[CommentRow, ...]:
    """The ratings that carry a comment, the latest first."""
    commented = sorted(
        (r for r in ratings if r.comment.strip()), key=lambda r: (r.at or _EPOCH, r.ticket), reverse=True
    )
    return tuple(
        CommentRow(ticket=r.ticket, score=r.score, comment=r.comment.strip(), agent=r.agent or UNASSIGNED, at=r.at)
        for r in commented[:LIST_LIMIT]
    )


def counted_tickets(facts: StatsFacts) -> StatsFacts:
    """The facts without merged tickets: the ticket each was merged into counts the request."""
    return replace(facts, tickets=tuple(t for t in facts.tickets if t.status != TicketStatus.MERGED))


def compute_report(
    facts: StatsFacts, calendar: BusinessCalendar, *, zone: ZoneInfo | None = None, bucket: str | None = None
) -> StatsReport:
    """Compute every figure of the report from the facts (times of day in `zone`, else the calendar's).

    A merged ticket is left out of every figure: it was one request with the ticket it was merged into, whose
    opening, first response, SLA and closing count it once (a merge moves its messages there).
    """
    facts = counted_tickets(facts)
    zone = zone or calendar.zone
    period = report_period(facts, zone, bucket)
    since, until = facts.since, facts.until
    opened = [t for t in facts.tickets if is_in(t.created_at, since, until)]
    closed = [t for t in facts.tickets if t.status == "closed" and is_in(t.closed_at, since, until)]
    answered = [
        business_hours(t.created_at, t.first_response_at, calendar) for t in opened if t.first_response_at is not None
    ]
    resolved = [business_hours(t.created_at, t.closed_at, calendar) for t in closed]
    outcomes = Counter(sla_outcome(t, facts.now, calendar) for t in opened)
    backlog = Counter(t.status for t in facts.tickets if t.status in OPEN_STATUSES)
    by_hour, by_weekday = busiest(facts.inbound_at, zone)
    scores = [r.score for r in facts.ratings]
    trend_tickets = (
        TrendTicket(t.created_at, t.first_response_at, t.closed_at if t.status == "closed" else None)
        for t in facts.tickets
    )
    return StatsReport(
        since=since,
        until=until,
        opened=len(opened),
        closed=len(closed),
        reopened=facts.reopened,
        backlog={s: backlog.get(s, 0) for s in OPEN_STATUSES},
        first_response=spread(answered),
        resolution=spread(resolved),
        sla_met=outcomes.get("met", 0),
        sla_breached=outcomes.get("breached", 0),
        csat_total=csat("all", scores) if scores else None,
        csat_by_contact=csat_by(facts.ratings, lambda r: r.contact),
        csat_by_agent=csat_by(facts.ratings, lambda r: r.agent),
        by_hour=by_hour,
        by_weekday=by_weekday,
        presale=sum(1 for t in opened if t.presale),
        timezone=zone.key,
        bucket=period.bucket,
        period_start=period.start,
        period_end=period.end,
        trend=compute_trend(trend_tickets, period, calendar),
        backlog_by_age=backlog_by_age(facts.tickets, facts.now),
        by_category=group_rows(
            facts, calendar, lambda t: t.category or NO_CATEGORY, lambda r: r.category or NO_CATEGORY
        ),
        by_agent=group_rows(facts, calendar, agent_of, lambda r: r.agent or UNASSIGNED),
        breaches=breach_rows(facts, calendar),
        oldest_waiting=oldest_waiting(facts.tickets, facts.now),
        comments=comment_rows(facts.ratings),
    )
