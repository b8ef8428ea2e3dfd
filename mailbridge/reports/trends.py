"""Decision: the report's period cut into buckets (days, weeks or months in the report's time zone), the
trend of each bucket, and the backlog's age bands. Pure; `figures.compute_report` calls it.

A bucket is named by the local date it starts on (a week starts on Monday, ISO 8601; a month is "2026-03").
Days are local calendar days, so a day of 23 or 25 hours at a daylight-saving change is still one bucket.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from mailbridge.decisions.business_hours import BusinessCalendar, business_hours_between

BUCKETS = ("day", "week", "month")
# Automatic bucket size: days up to this many days of period, weeks up to a year, months beyond.
DAYS_UP_TO = 45
WEEKS_UP_TO = 366
AGE_BANDS = ("<1 d", "1-3 d", "3-7 d", ">7 d")
# The report counts each ticket's durations for the totals, the trend and two groupings: count them once.
business_hours = lru_cache(maxsize=1 << 17)(business_hours_between)
_BAND_LIMITS_DAYS = (1, 3, 7)


@dataclass(frozen=True)
class TrendPoint:
    bucket: str  # the local date the bucket starts on: "2026-03-02" (day, week) or "2026-03" (month)
    opened: int
    closed: int
    first_response_median_hours: float | None  # of the tickets opened in the bucket, business hours
    resolution_median_hours: float | None  # of the tickets closed in the bucket, business hours


@dataclass(frozen=True)
class Period:
    start: datetime  # the first instant counted
    end: datetime  # the first instant not counted
    zone: ZoneInfo  # the report's time zone: buckets are its local days
    bucket: str  # "day", "week" or "month"


@dataclass(frozen=True)
class TrendTicket:
    created_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None  # set only for a ticket whose status is closed


def choose_bucket(start: datetime, end: datetime) -> str:
    """Pick the bucket size for a period: day up to 45 days, week up to a year, else month."""
    days = (end - start).total_seconds() / 86400
    return "day" if days <= DAYS_UP_TO else "week" if days <= WEEKS_UP_TO else "month"


def bucket_start(moment: datetime, zone: ZoneInfo, bucket: str) -> date:
    """Return the local date the bucket holding `moment` starts on."""
    local = moment.astimezone(zone).date()
    if bucket == "week":
        return local - timedelta(days=local.weekday())
    if bucket == "month":
        return local.replace(day=1)
    return local


def _after(day: date, bucket: str) -> date:
    if bucket == "week":
        return day + timedelta(days=7)
    if bucket == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=1)


def bucket_name(day: date, bucket: str) -> str:
    """Name a bucket by its first local date (a month by year and month)."""
    return day.strftime("%Y-%m") if bucket == "month" else day.isoformat()


def bucket_days(period: Period) -> list[date]:
    """List the first local dates of the buckets covering the period, at least one."""
    first = bucket_start(period.start, period.zone, period.bucket)
    last = bucket_start(max(period.end - timedelta(microseconds=1), period.start), period.zone, period.bucket)
    days = [first]
    while days[-1] < last:
        days.append(_after(days[-1], period.bucket))
    return days


def median(values: list[float]) -> float | None:
    """The median rounded to 0.01, None when there are no values."""
    return round(statistics.median(values), 2) if values else None


def compute_trend(tickets: Iterable[TrendTicket], period: Period, calendar: BusinessCalendar) -> tuple[TrendPoint, ...]:
    """Count tickets opened and closed per bucket and the median first response and resolution of each."""
    days = bucket_days(period)
    opened: dict[date, list[float | None]] = {day: [] for day in days}
    closed: dict[date, list[float]] = {day: [] for day in days}
    for ticket in tickets:
        if period.start <= ticket.created_at < period.end:
            answered = ticket.first_response_at
            hours = None if answered is None else business_hours(ticket.created_at, answered, calendar)
            opened[bucket_start(ticket.created_at, period.zone, period.bucket)].append(hours)
        if ticket.closed_at is not None and period.start <= ticket.closed_at < period.end:
            hours = business_hours(ticket.created_at, ticket.closed_at, calendar)
            closed[bucket_start(ticket.closed_at, period.zone, period.bucket)].append(hours)
    return tuple(
        TrendPoint(
            bucket=bucket_name(day, period.bucket),
            opened=len(opened[day]),
            closed=len(closed[day]),
            first_response_median_hours=median([h for h in opened[day] if h is not None]),
            resolution_median_hours=median(closed[day]),
        )
        for day in days
    )


def age_band(created_at: datetime, now: datetime) -> str:
    """Name the age band of a ticket opened at `created_at` (wall-clock days)."""
    days = (now - created_at).total_seconds() / 86400
    for limit, band in zip(_BAND_LIMITS_DAYS, AGE_BANDS, strict=False):
        if days < limit:
            return band
    return AGE_BANDS[-1]
