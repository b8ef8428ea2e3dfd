"""A Contact's own business calendar (`[sla.contacts."NAME"]`): read, checked, and counted by the receipt's
expectation and the SLA timer's candidates alike."""

from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbridge.base.config.settings import load_settings, masked
from mailbridge.base.errors import ConfigError
from mailbridge.decisions.business_hours import BusinessCalendar, calendar_of, contact_calendars
from mailbridge.decisions.expectation import receipt_expectation
from mailbridge.decisions.lifecycle import sla_candidates, sla_cutoff

BASE = """
[support]
from_address = "support@shop.example"
[smtp]
host = "127.0.0.1"
[sla]
first_response_hours = 8
timezone = "Europe/Rome"
holidays = ["2026-01-06"]
"""
ATHENS = """
[sla.contacts."Athens shop"]
working_days = ["mon", "tue", "wed", "thu", "fri", "sat"]
working_hours = "08:00-14:00"
timezone = "Europe/Athens"
holidays = [2026-01-07, "2026-12-24"]
"""
ROME = ZoneInfo("Europe/Rome")


def settings_of(tmp_path: Path, text: str):
    path = tmp_path / "mailbridge.toml"
    path.write_text(text)
    return load_settings(path)


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_of(tmp_path, text)
    return str(caught.value)


def test_contact_table_overrides_the_calendar_keys_it_names_and_keeps_the_rest(tmp_path):
    sla = settings_of(tmp_path, BASE + ATHENS).sla
    own = sla.for_contact("Athens shop")
    assert (own.working_hours, own.timezone, own.working_days[-1]) == ("08:00-14:00", "Europe/Athens", "sat")
    assert own.holidays == (date(2026, 1, 7), date(2026, 12, 24))
    assert own.first_response_hours == 8 and own.first_response_configured
    assert sla.holidays == (date(2026, 1, 6),)
    assert sla.for_contact("Customer service") is sla and sla.for_contact(None) is sla


def test_contact_table_without_holidays_keeps_those_of_sla(tmp_path):
    sla = settings_of(tmp_path, BASE + '[sla.contacts."Sales"]\nworking_hours = "10:00-18:00"\n').sla
    assert sla.for_contact("Sales").holidays == (date(2026, 1, 6),)


def test_config_check_shows_contact_calendars_and_dates(tmp_path):
    shown = masked(settings_of(tmp_path, BASE + ATHENS))["sla"]
    assert shown["holidays"] == ["2026-01-06"]
    assert shown["contacts"][0][0] == "Athens shop" and shown["contacts"][0][1]["holidays"][1] == "2026-12-24"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('working_hours = "14:00-08:00"', '[sla.contacts."Athens shop"] working_hours: expected "HH:MM-HH:MM"'),
        ('timezone = "Europe/Atlantis"', '[sla.contacts."Athens shop"] timezone: expected an IANA time zone'),
        ('holidays = ["24.12.2026"]', '[sla.contacts."Athens shop"] holidays: expected dates like "2026-12-24"'),
        ('holidays = "2026-12-24"', '[sla.contacts."Athens shop"] holidays: expected a list of dates'),
        ("first_response_hours = 2", '[sla.contacts."Athens shop"] first_response_hours: unknown key'),
    ],
)
def test_a_bad_contact_calendar_is_one_error_naming_the_table_and_key(tmp_path, table, expected):
    assert expected in error_for(tmp_path, BASE + f'[sla.contacts."Athens shop"]\n{table}\n')


def test_sla_contacts_must_be_tables(tmp_path):
    assert '[sla] contacts: expected [sla.contacts."NAME"] tables' in error_for(
        tmp_path, BASE.replace("[sla]\n", '[sla]\ncontacts = ["Athens shop"]\n')
    )


def test_holidays_of_sla_are_closed_days(tmp_path):
    sla = settings_of(tmp_path, BASE).sla
    # Monday 5 January 2026, 16:00 in Rome; Tuesday the 6th is a holiday: the 8 hours end on Wednesday at 16:00.
    found = receipt_expectation(datetime(2026, 1, 5, 16, 0, tzinfo=ROME), None, sla, "en")
    assert found["expected_by_text"] == "Wednesday 16:00 (CET)"


def test_receipts_of_two_contacts_count_in_their_own_calendars(tmp_path):
    sla = settings_of(tmp_path, BASE + ATHENS).sla
    received = datetime(2026, 1, 5, 16, 0, tzinfo=ROME)  # Monday, 17:00 in Athens
    rome_text = receipt_expectation(received, None, sla.for_contact("Customer service"), "en")["expected_by_text"]
    athens_text = receipt_expectation(received, None, sla.for_contact("Athens shop"), "en")["expected_by_text"]
    assert rome_text == "Wednesday 16:00 (CET)"
    # Athens: 6 hours a day from 08:00; Tuesday, then Wednesday the 7th is its holiday, then 2 hours on Thursday.
    assert athens_text == "Thursday 10:00 (EET)"


def test_contact_calendars_are_only_those_with_a_table_of_their_own(tmp_path):
    sla = settings_of(tmp_path, BASE + ATHENS).sla
    calendars = contact_calendars(sla, {1: "Customer service", 2: "Athens shop"}, 2026)
    assert list(calendars) == [2]
    assert calendars[2].zone == ZoneInfo("Europe/Athens") and calendars[2].opens == time(8)
    assert calendar_of(sla, 2026).holidays == frozenset({date(2026, 1, 6)})


def test_sla_candidates_use_each_contacts_calendar():
    week = BusinessCalendar(frozenset(range(5)), time(9), time(17), ROME)
    athens = BusinessCalendar(frozenset(range(6)), time(8), time(14), ZoneInfo("Europe/Athens"))
    now = datetime(2026, 1, 14, 15, 0, tzinfo=ROME)
    groups = sla_candidates({1: None, 2: None}, 8, 2, now, week, {2: athens})
    assert groups == {sla_cutoff(8, 2, now, week): (1,), sla_cutoff(8, 2, now, athens): (2,)}
    assert sla_cutoff(8, 2, now, week) != sla_cutoff(8, 2, now, athens)
