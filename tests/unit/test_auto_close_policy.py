"""auto_close_statuses and the reminder before auto-close (decisions.lifecycle), and the [smtp.NAME] profiles."""

from datetime import UTC, datetime, timedelta

import pytest

from mailbridge.base.config.settings import load_settings
from mailbridge.base.errors import CommandError, ConfigError
from mailbridge.decisions.kinds import TicketStatus as S
from mailbridge.decisions.lifecycle import auto_close_statuses, is_reminder_due, plan_auto_close

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
OPEN_TOO = frozenset({S.WAITING, S.OPEN})


def test_no_statuses_means_waiting_only():
    assert auto_close_statuses(None) == {S.WAITING} and auto_close_statuses(" ") == {S.WAITING}


def test_statuses_are_read_with_spaces_and_case():
    assert auto_close_statuses("Waiting, open,pending1") == {S.WAITING, S.OPEN, S.PENDING1}


@pytest.mark.parametrize("text", ["waiting,opne", "closed", "new", "spam"])
def test_a_typo_or_a_status_that_cannot_close_is_an_error(text):
    with pytest.raises(CommandError, match="--auto-close-statuses"):
        auto_close_statuses(text)


def test_open_ticket_closes_when_open_is_listed():
    transition = plan_auto_close(S.OPEN, NOW - timedelta(days=30), NOW, 30, OPEN_TOO)
    assert transition is not None and transition.new_status is S.CLOSED and "left open" in transition.reason


def test_open_ticket_stays_by_default():
    assert plan_auto_close(S.OPEN, NOW - timedelta(days=300), NOW, 30) is None


def test_pending_ticket_stays_when_not_listed():
    assert plan_auto_close(S.PENDING1, NOW - timedelta(days=300), NOW, 30, OPEN_TOO) is None


def test_reminder_is_due_in_the_last_hours():
    since = NOW - timedelta(days=5) + timedelta(hours=24)
    assert is_reminder_due(S.WAITING, since, NOW, 5, 24)
    assert not is_reminder_due(S.WAITING, since + timedelta(minutes=1), NOW, 5, 24)


def test_no_reminder_once_due_to_close():
    assert not is_reminder_due(S.WAITING, NOW - timedelta(days=5), NOW, 5, 24)


def test_no_reminder_when_turned_off():
    assert not is_reminder_due(S.WAITING, NOW - timedelta(days=4, hours=12), NOW, 5, 0)


def test_no_reminder_longer_than_the_waiting():
    assert not is_reminder_due(S.WAITING, NOW - timedelta(hours=1), NOW, 1, 48)


def test_no_reminder_for_an_open_ticket_the_customer_cannot_keep_open():
    assert not is_reminder_due(S.OPEN, NOW - timedelta(days=4, hours=12), NOW, 5, 24, OPEN_TOO)


def test_no_reminder_after_the_customer_answered():
    assert not is_reminder_due(S.OPEN, NOW - timedelta(days=4, hours=12), NOW, 5, 24)


BASE = """
[support]
from_address = "support@shop.example"
[smtp]
host = "127.0.0.1"
"""


def test_smtp_profiles_are_read_with_their_own_keys(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(BASE + '[smtp.shop2]\nhost = "relay.shop2.example"\nport = 2525\nmax_connections = 2\n')
    smtp = load_settings(path).smtp
    [profile] = smtp.profiles
    assert profile.name == "shop2" and profile.connection.host == "relay.shop2.example"
    assert profile.connection.port == 2525 and profile.max_connections == 2 and smtp.profile("shop2") == profile
    assert smtp.connection.host == "127.0.0.1"


def test_a_typo_in_an_smtp_profile_names_the_table(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(BASE + '[smtp.shop2]\nhots = "relay.shop2.example"\n')
    with pytest.raises(ConfigError, match=r"smtp\.shop2"):
        load_settings(path)


def test_reminder_hours_are_read(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(BASE.replace("[smtp]", "auto_close_reminder_hours = 24\n[smtp]"))
    assert load_settings(path).support.auto_close_reminder_hours == 24
