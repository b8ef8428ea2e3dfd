"""The receipt's expected answer time (decisions.expectation): business hours, weekends, holidays, the words."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from mailbridge.base.config.rules import SlaSettings
from mailbridge.decisions.business_hours import BusinessCalendar
from mailbridge.decisions.expectation import expectation_for, expectation_words, expected_answer_by

ROME = ZoneInfo("Europe/Rome")
WEEK = BusinessCalendar(frozenset(range(5)), time(9), time(17), ROME)
CONFIGURED = SlaSettings(first_response_hours=8, timezone="Europe/Rome", first_response_configured=True)


def rome(*args) -> datetime:
    return datetime(*args, tzinfo=ROME)


def test_mail_in_working_hours_is_answered_the_same_day():
    assert expected_answer_by(rome(2026, 1, 7, 9, 30), 4, WEEK) == rome(2026, 1, 7, 13, 30)


def test_mail_after_hours_counts_from_the_next_morning():
    assert expected_answer_by(rome(2026, 1, 7, 19, 0), 1, WEEK) == rome(2026, 1, 8, 10, 0)


def test_mail_on_friday_evening_is_answered_on_monday():
    assert expected_answer_by(rome(2026, 1, 9, 18, 0), 1, WEEK) == rome(2026, 1, 12, 10, 0)


def test_mail_on_saturday_is_answered_on_monday():
    assert expected_answer_by(rome(2026, 1, 10, 11, 0), 2, WEEK) == rome(2026, 1, 12, 11, 0)


def test_hours_left_on_friday_carry_over_the_weekend():
    assert expected_answer_by(rome(2026, 1, 9, 16, 0), 2, WEEK) == rome(2026, 1, 12, 10, 0)


def test_a_holiday_is_skipped():
    with_epiphany = BusinessCalendar(WEEK.working_days, WEEK.opens, WEEK.closes, ROME, frozenset({date(2026, 1, 6)}))
    assert expected_answer_by(rome(2026, 1, 5, 18, 0), 1, with_epiphany) == rome(2026, 1, 7, 10, 0)


def test_a_calendar_without_working_hours_promises_nothing():
    assert expected_answer_by(rome(2026, 1, 5, 9, 0), 1, BusinessCalendar(frozenset(), time(9), time(17), ROME)) is None


def test_no_hours_configured_means_no_expectation():
    assert expectation_for(rome(2026, 1, 5, 9, 0), None, SlaSettings()) is None


def test_contact_hours_give_an_expectation_without_sla_hours():
    assert expectation_for(rome(2026, 1, 5, 9, 0), 2.0, SlaSettings(timezone="Europe/Rome")) == (
        rome(2026, 1, 5, 11, 0),
        2.0,
    )


def test_configured_sla_hours_give_an_expectation():
    assert expectation_for(rome(2026, 1, 9, 15, 0), None, CONFIGURED) == (rome(2026, 1, 12, 15, 0), 8)


def test_country_holidays_of_the_sla_are_skipped():
    sla = SlaSettings(
        first_response_hours=1, timezone="Europe/Rome", holidays_country="IT", first_response_configured=True
    )
    # 6 January is Epiphany in Italy.
    assert expectation_for(rome(2026, 1, 5, 18, 0), None, sla) == (rome(2026, 1, 7, 10, 0), 1)


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "Monday 10:00 (CET)"),
        ("de", "Montag 10:00 (CET)"),
        ("it", "lunedì 10:00 (CET)"),
        ("cs", "pondělí 10:00 (CET)"),
        ("el", "Δευτέρα 10:00 (CET)"),
        ("xx", "Monday 10:00 (CET)"),
    ],
)
def test_words_in_each_locale(locale, words):
    assert expectation_words(rome(2026, 1, 12, 10, 0), rome(2026, 1, 9, 18, 0), ROME, locale) == words


def test_words_are_in_the_calendar_zone_not_utc():
    when = datetime(2026, 7, 13, 8, 0, tzinfo=UTC)
    assert expectation_words(when, when, ROME, "en") == "Monday 10:00 (CEST)"


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "Tuesday, 20 January 10:00 (CET)"),
        ("de", "Dienstag, 20. Januar 10:00 (CET)"),
        ("it", "martedì 20 gennaio 10:00 (CET)"),
        ("cs", "úterý 20. ledna 10:00 (CET)"),
        ("el", "Τρίτη 20 Ιανουαρίου 10:00 (CET)"),
    ],
)
def test_a_week_or_more_ahead_adds_the_date(locale, words):
    assert expectation_words(rome(2026, 1, 20, 10, 0), rome(2026, 1, 12, 9, 0), ROME, locale) == words


def test_czech_weekday_after_do_is_in_the_genitive():
    assert expectation_words(rome(2026, 1, 14, 10, 0), rome(2026, 1, 12, 9, 0), ROME, "cs").startswith("středy")
