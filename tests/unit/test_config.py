from pathlib import Path

import pytest

from mailbridge.base.config.settings import load_settings, masked
from mailbridge.base.config.starter import EXAMPLE
from mailbridge.base.errors import ConfigError

BASE = """
[support]
from_address = "support@shop.example"
[smtp]
host = "127.0.0.1"
[[mailboxes]]
name = "support"
host = "imap.shop.example"
username = "support@shop.example"
password_env = "MB_PW"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbridge.toml"
    path.write_text(text)
    return path


def error_for(tmp_path, text, monkeypatch=None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    return str(caught.value)


def test_defaults_are_secure(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    settings = load_settings(write(tmp_path, BASE))
    imap = settings.mailboxes[0].connection
    assert (imap.security, imap.port, imap.validate_cert) == ("ssl", 993, True)
    assert settings.database.url == f"sqlite:///{tmp_path}/mailbridge.db"


def test_bad_port_names_file_key_and_expectation(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    message = error_for(tmp_path, BASE + 'port = "imap"\n')
    assert message == f"{tmp_path}/mailbridge.toml: [mailboxes.0] port: expected an integer 1-65535, got 'imap'"


def test_plain_password_in_toml_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    message = error_for(tmp_path, BASE + 'password = "hunter2"\n')
    assert "password_env or password_file" in message and "hunter2" not in message


def test_missing_password_env_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("MB_PW", raising=False)
    assert "expected environment variable MB_PW to be set" in error_for(tmp_path, BASE)


def test_password_file_is_read_and_masked(tmp_path):
    (tmp_path / "pw.txt").write_text("s3cret\n")
    settings = load_settings(write(tmp_path, BASE.replace('password_env = "MB_PW"', 'password_file = "pw.txt"')))
    assert settings.mailboxes[0].connection.password.value == "s3cret"
    assert "s3cret" not in str(masked(settings)) and "s3cret" not in repr(settings)


def test_unknown_key_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    assert "[mailboxes.0] folderz: unknown key" in error_for(tmp_path, BASE + 'folderz = ["INBOX"]\n')


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.toml")


def test_invalid_toml_is_reported(tmp_path):
    assert "not valid TOML" in error_for(tmp_path, "[support\n")


def test_reply_token_days_defaults_to_30_and_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    assert load_settings(write(tmp_path, BASE)).support.reply_token_days == 30
    bad = BASE.replace(
        'from_address = "support@shop.example"', 'from_address = "support@shop.example"\nreply_token_days = 0'
    )
    assert (
        error_for(tmp_path, bad)
        == f"{tmp_path}/mailbridge.toml: [support] reply_token_days: expected an integer 1-3650, got 0"
    )


def test_parse_processes_default_and_bad_value(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    assert load_settings(write(tmp_path, BASE)).ingest.parse_processes == 1
    assert load_settings(write(tmp_path, BASE + "[ingest]\nparse_processes = 0\n")).ingest.parse_processes == 0
    message = error_for(tmp_path, BASE + "[ingest]\nparse_processes = -1\n")
    assert message.endswith("[ingest] parse_processes: expected an integer 0-16, got -1")


def test_parse_timeout_default_and_bad_value(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    assert load_settings(write(tmp_path, BASE)).ingest.parse_timeout_seconds == 20.0
    settings = load_settings(write(tmp_path, BASE + "[ingest]\nparse_timeout_seconds = 0.5\n"))
    assert settings.ingest.parse_timeout_seconds == 0.5
    message = error_for(tmp_path, BASE + "[ingest]\nparse_timeout_seconds = 0\n")
    assert message.endswith("[ingest] parse_timeout_seconds: expected a number >= 0.1, got 0")


def test_toml_inf_and_nan_are_refused_where_a_number_is_expected(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    message = error_for(tmp_path, BASE + "[schedule]\npoll_interval_seconds = inf\n")
    assert message.endswith("[schedule] poll_interval_seconds: expected a number >= 1, got inf")
    message = error_for(tmp_path, BASE + "[ingest]\nparse_timeout_seconds = nan\n")
    assert message.endswith("[ingest] parse_timeout_seconds: expected a number >= 0.1, got nan")


def test_lease_seconds_defaults_to_60_and_is_at_least_3_and_at_most_an_hour(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    assert load_settings(write(tmp_path, BASE)).daemon.lease_seconds == 60.0
    assert load_settings(write(tmp_path, BASE + "[daemon]\nlease_seconds = 3600\n")).daemon.lease_seconds == 3600.0
    for bad in ("2.5", "3601", "-inf", "nan"):
        message = error_for(tmp_path, BASE + f"[daemon]\nlease_seconds = {bad}\n")
        assert message.endswith(f"[daemon] lease_seconds: expected a number from 3 to 3600, got {bad}"), message


def test_job_alert_after_minutes_defaults_to_30_and_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    assert load_settings(write(tmp_path, BASE)).schedule.job_alert_after_minutes == 30.0
    settings = load_settings(write(tmp_path, BASE + "[schedule]\njob_alert_after_minutes = 5\n"))
    assert settings.schedule.job_alert_after_minutes == 5.0
    message = error_for(tmp_path, BASE + "[schedule]\njob_alert_after_minutes = 0\n")
    assert message.endswith("[schedule] job_alert_after_minutes: expected a number >= 1, got 0")


def test_example_configuration_loads(monkeypatch):
    example = Path(str(EXAMPLE))  # the shipped example `init` starts from, package data of mailbridge.base.config
    monkeypatch.setenv("MAILBRIDGE_SECRET", "s")
    monkeypatch.setenv("MAILBRIDGE_IMAP_PASSWORD", "pw")
    assert load_settings(example).ingest.parse_processes == 1
    assert load_settings(example).ingest.parse_timeout_seconds == 20.0
