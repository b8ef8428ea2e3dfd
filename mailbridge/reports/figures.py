"""Decision: facts about tickets, ratings and messages -> the figures of `mailbridge stats`. Pure.

`stats.gather_facts` queries the store; `compute_report` turns the facts into a `StatsReport`
(times in business hours of the `[sla]` calendar); `reports.render` prints or writes it.
Percentiles are nearest-rank: p90 of n values is the ceil(0.9 n)-th smallest.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from mailbridge.base.config.rules import WEEKDAYS
from mailbridge.decisions.business_hours import BusinessCalendar, business_hours_between, due_at
from mailbridge.decisions.survey import is_satisfied

OPEN_STATUSES = ("new", "open", "waiting", "pending1", "pending2")
UNASSIGNED = "(unassigned)"


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


@dataclass(frozen=True)
class RatingFact:
    contact: str
    agent: str | None
    score: int


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
    due = due_at(ticket.created_at, ticket.first_response_hours, calendar)
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


def busiest(moments: tuple[datetime, ...], calendar: BusinessCalendar) -> tuple[dict[int, int], dict[str, int]]:
    """Count moments per local hour of day and per weekday, in the calendar's zone."""
    local = [m.astimezone(calendar.zone) for m in moments]
    hours = Counter(m.hour for m in local)
    days = Counter(WEEKDAYS[m.weekday()] for m in local)
    return {h: hours.get(h, 0) for h in range(24)}, {d: days.get(d, 0) for d in WEEKDAYS}


def compute_report(facts: StatsFacts, calendar: BusinessCalendar) -> StatsReport:
    """Compute every figure of the report from the facts."""
    since, until = facts.since, facts.until
    opened = [t for t in facts.tickets if is_in(t.created_at, since, until)]
    closed = [t for t in facts.tickets if t.status == "closed" and is_in(t.closed_at, since, until)]
    answered = [
        business_hours_between(t.created_at, t.first_response_at, calendar)
        for t in opened
        if t.first_response_at is not None
    ]
    resolved = [business_hours_between(t.created_at, t.closed_at, calendar) for t in closed]
    outcomes = Counter(sla_outcome(t, facts.now, calendar) for t in opened)
    backlog = Counter(t.status for t in facts.tickets if t.status in OPEN_STATUSES)
    by_hour, by_weekday = busiest(facts.inbound_at, calendar)
    scores = [r.score for r in facts.ratings]
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
    )
