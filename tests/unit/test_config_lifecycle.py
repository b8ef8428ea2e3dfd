"""[support] lifecycle keys, [sla] and [[routing]]."""

import pytest

from mailbridge.base.config.settings import load_settings, masked
from mailbridge.base.errors import ConfigError

BASE = """
[smtp]
host = "127.0.0.1"
[[mailboxes]]
name = "support"
host = "imap.shop.example"
username = "support@shop.example"
password_env = "MB_PW"
"""
SUPPORT = '[support]\nfrom_address = "support@shop.example"\n'


def load(tmp_path, monkeypatch, text):
    monkeypatch.setenv("MB_PW", "pw")
    path = tmp_path / "mailbridge.toml"
    path.write_text(text + BASE)
    return load_settings(path)


def error_for(tmp_path, monkeypatch, text) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, monkeypatch, text)
    return str(caught.value)


def test_defaults(tmp_path, monkeypatch):
    settings = load(tmp_path, monkeypatch, SUPPORT)
    assert settings.support.reopen_window_days == 30 and settings.support.auto_close_days == 5
    assert settings.support.secret is None
    assert settings.sla.first_response_hours == 24 and settings.sla.timezone == "Europe/Rome"
    assert settings.sla.working_days == ("mon", "tue", "wed", "thu", "fri") and settings.routing == ()


def test_secret_from_env_is_masked(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_SECRET", "hush")
    settings = load(tmp_path, monkeypatch, SUPPORT + 'secret_env = "MB_SECRET"\n')
    assert settings.support.secret.value == "hush"
    assert "hush" not in str(masked(settings))


def test_secret_from_file(tmp_path, monkeypatch):
    (tmp_path / "token.secret").write_text("from-file\n")
    settings = load(tmp_path, monkeypatch, SUPPORT + 'secret_file = "token.secret"\n')
    assert settings.support.secret.value == "from-file"


def test_plain_secret_is_refused(tmp_path, monkeypatch):
    message = error_for(tmp_path, monkeypatch, SUPPORT + 'secret = "hush"\n')
    assert "[support] secret: a plain secret is not read from TOML; use secret_env or secret_file" in message


@pytest.mark.parametrize(
    "line, key, expected",
    [
        ("reopen_window_days = -1", "reopen_window_days", "expected an integer 0-3650"),
        ("auto_close_days = 0", "auto_close_days", "expected an integer 1-3650"),
        ('order_number_regex = "(unclosed"', "order_number_regex", "expected a valid regular expression"),
    ],
)
def test_bad_support_values_name_the_key(tmp_path, monkeypatch, line, key, expected):
    message = error_for(tmp_path, monkeypatch, SUPPORT + line + "\n")
    assert f"mailbridge.toml: [support] {key}: {expected}" in message


def test_sla_section(tmp_path, monkeypatch):
    settings = load(
        tmp_path,
        monkeypatch,
        SUPPORT + '[sla]\nfirst_response_hours = 48\nworking_days = ["Mon", "tue"]\n'
        'working_hours = "08:00-12:30"\ntimezone = "Europe/Prague"\nholidays_country = "cz"\n'
        "warn_before_hours = 6\n",
    )
    sla = settings.sla
    assert (
        sla.first_response_hours,
        sla.working_days,
        sla.working_hours,
        sla.timezone,
        sla.holidays_country,
        sla.warn_before_hours,
    ) == (48, ("mon", "tue"), "08:00-12:30", "Europe/Prague", "CZ", 6)


@pytest.mark.parametrize(
    "line, key, expected",
    [
        ('working_days = ["monday"]', "working_days", "expected weekday names"),
        ('working_hours = "17:00-09:00"', "working_hours", 'expected "HH:MM-HH:MM"'),
        ('timezone = "Mars/Olympus"', "timezone", "expected an IANA time zone"),
        ('holidays_country = "XX"', "holidays_country", "expected an ISO 3166 country code"),
        ("first_response_hours = -2", "first_response_hours", "expected a number >= 0"),
        ("colour = 1", "colour", "unknown key"),
    ],
)
def test_bad_sla_values_name_the_key(tmp_path, monkeypatch, line, key, expected):
    message = error_for(tmp_path, monkeypatch, SUPPORT + "[sla]\n" + line + "\n")
    assert f"mailbridge.toml: [sla] {key}: {expected}" in message


def test_routing_rules(tmp_path, monkeypatch):
    settings = load(
        tmp_path,
        monkeypatch,
        SUPPORT + '[[routing]]\ncategory = "Orders > Returns"\n'
        'subject_keywords = ["Return", "reso"]\n[[routing]]\ncategory = "Webmaster"\n'
        'recipients = ["Webmaster@shop.example"]\n',
    )
    assert [(r.category, r.recipients, r.subject_keywords) for r in settings.routing] == [
        ("Orders > Returns", (), ("return", "reso")),
        ("Webmaster", ("webmaster@shop.example",), ()),
    ]


def test_routing_rule_needs_a_condition(tmp_path, monkeypatch):
    message = error_for(tmp_path, monkeypatch, SUPPORT + '[[routing]]\ncategory = "Orders"\n')
    assert "[routing.0]: expected recipients or subject_keywords" in message


def test_routing_rule_needs_a_category(tmp_path, monkeypatch):
    message = error_for(tmp_path, monkeypatch, SUPPORT + '[[routing]]\nsubject_keywords = ["x"]\n')
    assert "[routing.0] category: missing; it is required" in message
