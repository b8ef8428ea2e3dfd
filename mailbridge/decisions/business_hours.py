"""Decision: business-hours arithmetic for SLA due dates. Pure; the SLA timer builds the calendar.

A BusinessCalendar holds working weekdays, one daily window of working hours in a time zone, and
public holidays as plain dates. Times in and out are aware datetimes (any zone; results in UTC).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from mailbridge.base.config.rules import WEEKDAYS, SlaSettings, parse_working_hours

# Ten years of days without a single working hour means the calendar is empty, not that we must keep looking.
MAX_DAYS = 3660


@dataclass(frozen=True)
class BusinessCalendar:
    working_days: frozenset[int]  # 0 = Monday
    opens: time
    closes: time
    zone: ZoneInfo
    holidays: frozenset[date] = frozenset()


def _windows(start: datetime, calendar: BusinessCalendar) -> Iterator[tuple[datetime, datetime]]:
    """Yield each working day's (open, close) in UTC, from the local day of `start` on."""
    day = start.astimezone(calendar.zone).date()
    for _ in range(MAX_DAYS):
        if day.weekday() in calendar.working_days and day not in calendar.holidays:
            opens = datetime.combine(day, calendar.opens, tzinfo=calendar.zone).astimezone(UTC)
            closes = datetime.combine(day, calendar.closes, tzinfo=calendar.zone).astimezone(UTC)
            yield opens, closes
        day += timedelta(days=1)


def _windows_back(end: datetime, calendar: BusinessCalendar) -> Iterator[tuple[datetime, datetime]]:
    """Yield each working day's (open, close) in UTC, from the local day of `end` back."""
    day = end.astimezone(calendar.zone).date()
    for _ in range(MAX_DAYS):
        if day.weekday() in calendar.working_days and day not in calendar.holidays:
            opens = datetime.combine(day, calendar.opens, tzinfo=calendar.zone).astimezone(UTC)
            closes = datetime.combine(day, calendar.closes, tzinfo=calendar.zone).astimezone(UTC)
            yield opens, closes
        day -= timedelta(days=1)


def business_hours_between(start: datetime, end: datetime, calendar: BusinessCalendar) -> float:
    """Count the working hours between two instants (0 when end is not after start)."""
    total = timedelta()
    for opens, closes in _windows(start, calendar):
        if opens >= end:
            break
        overlap = min(closes, end) - max(opens, start)
        if overlap > timedelta():
            total += overlap
    return total.total_seconds() / 3600


def due_at(start: datetime, hours: float, calendar: BusinessCalendar) -> datetime:
    """Return the instant `hours` working hours after `start`.

    Raises: ValueError when the calendar has no working hours at all.
    """
    remaining = timedelta(hours=hours)
    for opens, closes in _windows(start, calendar):
        begin = max(opens, start)
        if begin >= closes:
            continue
        if remaining <= closes - begin:
            return begin + remaining
        remaining -= closes - begin
    raise ValueError("the business calendar has no working hours")


def start_before(end: datetime, hours: float, calendar: BusinessCalendar) -> datetime | None:
    """Return the latest instant `hours` working hours before `end` (`due_at` backwards); None when the calendar
    has no working hours within MAX_DAYS before `end`."""
    remaining = timedelta(hours=max(hours, 0.0))
    if not remaining:
        return end
    for opens, closes in _windows_back(end, calendar):
        finish = min(closes, end)
        if finish <= opens:
            continue
        if remaining <= finish - opens:
            return finish - remaining
        remaining -= finish - opens
    return None


def build_calendar(sla: SlaSettings, years: range) -> BusinessCalendar:
    """Build the business calendar of `[sla]` (or a Contact's), with its holidays and the public holidays of `years`
    when a country is set."""
    opens, closes = parse_working_hours(sla.working_hours)
    holidays: frozenset[date] = frozenset(sla.holidays)
    if sla.holidays_country:
        import holidays as holiday_tables

        holidays |= frozenset(holiday_tables.country_holidays(sla.holidays_country, years=list(years)))
    return BusinessCalendar(
        working_days=frozenset(WEEKDAYS.index(d) for d in sla.working_days),
        opens=opens,
        closes=closes,
        zone=ZoneInfo(sla.timezone),
        holidays=holidays,
    )


@lru_cache(maxsize=32)
def calendar_of(sla: SlaSettings, year: int) -> BusinessCalendar:
    """The business calendar of `sla` with the holidays around `year` (built once: the holiday tables are slow)."""
    return build_calendar(sla, range(year - 1, year + 2))


def contact_calendars(sla: SlaSettings, names: Mapping[int, str], year: int) -> dict[int, BusinessCalendar]:
    """The calendars of the Contacts (id: name) that have a `[sla.contacts."NAME"]` table of their own, by id; the
    others count in `[sla]`'s."""
    own = dict(sla.contacts)
    return {contact_id: calendar_of(own[name], year) for contact_id, name in names.items() if name in own}
