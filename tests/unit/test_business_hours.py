from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailbridge.base.config.rules import SlaSettings, parse_working_hours
from mailbridge.decisions.business_hours import (
    BusinessCalendar,
    build_calendar,
    business_hours_between,
    due_at,
    start_before,
)
from mailbridge.decisions.lifecycle import SLA_CUTOFF_MARGIN, SlaState, sla_candidates, sla_cutoff, sla_state

ROME = ZoneInfo("Europe/Rome")
WEEK = BusinessCalendar(frozenset(range(5)), time(9), time(17), ROME)


def rome(*args) -> datetime:
    return datetime(*args, tzinfo=ROME)


def test_friday_evening_ticket_counts_nothing_over_the_weekend():
    assert business_hours_between(rome(2026, 1, 9, 18, 30), rome(2026, 1, 12, 9, 0), WEEK) == 0
    assert business_hours_between(rome(2026, 1, 9, 18, 30), rome(2026, 1, 12, 10, 0), WEEK) == 1


def test_friday_evening_ticket_is_due_on_monday_for_eight_hours():
    assert due_at(rome(2026, 1, 9, 18, 30), 8, WEEK) == rome(2026, 1, 12, 17, 0)


def test_friday_evening_ticket_is_due_on_wednesday_for_24_hours():
    assert due_at(rome(2026, 1, 9, 18, 30), 24, WEEK) == rome(2026, 1, 14, 17, 0)


def test_friday_afternoon_ticket_carries_hours_over_the_weekend():
    assert due_at(rome(2026, 1, 9, 15, 0), 4, WEEK) == rome(2026, 1, 12, 11, 0)


def test_ticket_before_opening_starts_at_opening():
    assert due_at(rome(2026, 1, 7, 6, 0), 2, WEEK) == rome(2026, 1, 7, 11, 0)


def test_due_at_the_end_of_a_day_stays_on_that_day():
    assert due_at(rome(2026, 1, 7, 9, 0), 8, WEEK) == rome(2026, 1, 7, 17, 0)


def test_holidays_are_skipped():
    calendar = BusinessCalendar(
        WEEK.working_days, WEEK.opens, WEEK.closes, ROME, frozenset({date(2025, 12, 25), date(2025, 12, 26)})
    )
    assert due_at(rome(2025, 12, 24, 16, 0), 8, calendar) == rome(2025, 12, 29, 16, 0)


def test_daylight_saving_change_over_the_weekend():
    assert due_at(rome(2026, 3, 27, 16, 0), 2, WEEK) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_between_is_zero_when_end_is_before_start():
    assert business_hours_between(rome(2026, 1, 8, 12), rome(2026, 1, 7, 12), WEEK) == 0


def test_calendar_without_working_days_is_an_error():
    with pytest.raises(ValueError):
        due_at(rome(2026, 1, 7), 1, BusinessCalendar(frozenset(), time(9), time(17), ROME))


def test_working_hours_must_be_ordered():
    assert parse_working_hours("08:30-18:00") == (time(8, 30), time(18))
    with pytest.raises(ValueError):
        parse_working_hours("17:00-09:00")


def test_italian_holidays_come_from_the_holidays_package():
    calendar = build_calendar(SlaSettings(holidays_country="IT"), range(2026, 2027))
    assert date(2026, 4, 6) in calendar.holidays  # Easter Monday
    assert date(2026, 12, 25) in calendar.holidays


@pytest.mark.parametrize(
    "now, state",
    [
        (rome(2026, 1, 10, 12, 0), SlaState.OK),  # Saturday: 8 working hours still left
        (rome(2026, 1, 12, 14, 59), SlaState.OK),  # Monday, 2h01 left
        (rome(2026, 1, 12, 15, 0), SlaState.WARNING),  # Monday, 2h left
        (rome(2026, 1, 12, 16, 59), SlaState.WARNING),
        (rome(2026, 1, 12, 17, 0), SlaState.BREACHED),
    ],
)
def test_sla_state_of_a_friday_evening_ticket(now, state):
    due = due_at(rome(2026, 1, 9, 18, 30), 8, WEEK)
    assert sla_state(due, now, 2, WEEK) is state


def test_start_before_walks_back_over_the_weekend():
    assert start_before(rome(2026, 1, 12, 11, 0), 4, WEEK) == rome(2026, 1, 9, 15, 0)
    assert start_before(rome(2026, 1, 12, 8, 0), 1, WEEK) == rome(2026, 1, 9, 16, 0)


def test_start_before_is_due_at_backwards():
    start = rome(2026, 1, 7, 10, 15)
    assert start_before(due_at(start, 20, WEEK), 20, WEEK) == start


def test_start_before_zero_hours_is_the_end_and_an_empty_calendar_has_none():
    assert start_before(rome(2026, 1, 10, 12, 0), 0, WEEK) == rome(2026, 1, 10, 12, 0)
    assert start_before(rome(2026, 1, 7), 1, BusinessCalendar(frozenset(), time(9), time(17), ROME)) is None


def test_sla_cutoff_is_the_start_of_the_warning_lead_plus_a_margin():
    # 8 hours, warned 2 before: a ticket can be warned once it has waited 6 working hours.
    assert sla_cutoff(8, 2, rome(2026, 1, 12, 15, 0), WEEK) == rome(2026, 1, 12, 9, 0) + SLA_CUTOFF_MARGIN


def test_sla_cutoff_is_none_when_the_warning_starts_at_creation():
    assert sla_cutoff(2, 4, rome(2026, 1, 12, 15, 0), WEEK) is None
    assert sla_cutoff(4, 4, rome(2026, 1, 12, 15, 0), WEEK) is None


@pytest.mark.parametrize("hours, warn", [(8, 2), (24, 4), (1, 0), (0.5, 0.25), (40, 0)])
def test_every_ticket_created_after_the_cutoff_is_ok(hours, warn):
    """The SQL cutoff never leaves out a ticket that sla_state would report: every half hour of three weeks around a
    weekend and a daylight saving change, for a `now` every 3h10m of two of them."""
    nows = [rome(2026, 3, 23, 0, 0) + n * timedelta(hours=3, minutes=10) for n in range(106)]
    for now in nows:
        cutoff = sla_cutoff(hours, warn, now, WEEK)
        assert cutoff is not None
        created = cutoff + timedelta(seconds=1)
        while created <= now:
            assert sla_state(due_at(created, hours, WEEK), now, warn, WEEK) is SlaState.OK, (now, created)
            created += timedelta(minutes=30)
        # And the cutoff is tight: a ticket created at its start (the margin before it) is near its due time.
        start = cutoff - SLA_CUTOFF_MARGIN
        assert sla_state(due_at(start, hours, WEEK), now, warn, WEEK) is not SlaState.OK, (now, start)


def test_sla_candidates_group_the_contacts_by_their_hours():
    now = rome(2026, 1, 12, 15, 0)
    groups = sla_candidates({1: None, 2: 8.0, 3: None, 4: 1.0}, 24, 2, now, WEEK)
    assert groups == {
        sla_cutoff(24, 2, now, WEEK): (1, 3),
        sla_cutoff(8, 2, now, WEEK): (2,),
        None: (4,),
    }
