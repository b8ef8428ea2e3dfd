"""Issue 16, secrets: the database password is never shown, comes from the environment or a file if wished, and
a login in plaintext to a host beyond loopback is refused unless allowed."""

from __future__ import annotations

import json

import pytest

from mailbridge.base.config.settings import load_settings, mask_url_password, masked
from tests.unit.test_config import BASE, error_for, write

PG = "postgresql+psycopg://mb:{}@db.shop.example:5432/mailbridge"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (PG.format("s3cr%40t"), PG.format("***")),
        ("postgresql+psycopg://mb:p@ss@db/x", "postgresql+psycopg://mb:***@db/x"),  # the last @ ends the user info
        ("postgresql+psycopg://mb@db/x", "postgresql+psycopg://mb@db/x"),
        ("sqlite:////var/lib/mailbridge/mb.db", "sqlite:////var/lib/mailbridge/mb.db"),
        ("sqlite:///relative.db", "sqlite:///relative.db"),
    ],
)
def test_mask_url_password(url, shown):
    assert mask_url_password(url) == shown


def test_a_password_in_the_database_url_is_masked_in_the_shown_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    settings = load_settings(write(tmp_path, BASE + f'[database]\nurl = "{PG.format("hunter2")}"\n'))
    shown = json.dumps(masked(settings))
    assert "hunter2" not in shown and PG.format("***") in shown
    assert settings.database.connect_url() == PG.format("hunter2")


def test_the_database_password_from_the_environment_is_put_in_only_to_connect(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    monkeypatch.setenv("MB_DB_PW", "p@ss:/word")
    text = BASE + '[database]\nurl = "postgresql+psycopg://mb@db.shop.example/mailbridge"\npassword_env = "MB_DB_PW"\n'
    settings = load_settings(write(tmp_path, text))
    assert settings.database.connect_url() == "postgresql+psycopg://mb:p%40ss%3A%2Fword@db.shop.example/mailbridge"
    shown = json.dumps(masked(settings))
    assert "p@ss" not in shown and "env:MB_DB_PW" in shown


def test_a_database_password_for_sqlite_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    monkeypatch.setenv("MB_DB_PW", "x")
    message = error_for(tmp_path, BASE + '[database]\nurl = "sqlite:///x.db"\npassword_env = "MB_DB_PW"\n')
    assert "[database] password_env" in message and "only for PostgreSQL" in message


def test_a_bad_database_url_error_does_not_show_its_password(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    message = error_for(tmp_path, BASE + '[database]\nurl = "mysql://mb:hunter2@db/x"\n')
    assert "hunter2" not in message and "[database] url" in message


SMTP_LOGIN = BASE.replace(
    '[smtp]\nhost = "127.0.0.1"\n',
    '[smtp]\nhost = "{host}"\nsecurity = "plain"\nusername = "mb"\npassword_env = "MB_PW"\n{extra}',
)


def test_a_plaintext_smtp_login_beyond_loopback_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    message = error_for(tmp_path, SMTP_LOGIN.format(host="smtp.shop.example", extra=""), monkeypatch)
    assert "[smtp] security" in message and "allow_insecure" in message


@pytest.mark.parametrize(
    ("host", "extra"),
    [("127.0.0.1", ""), ("localhost", ""), ("::1", ""), ("smtp.shop.example", "allow_insecure = true\n")],
)
def test_a_plaintext_smtp_login_is_accepted_on_loopback_or_when_allowed(tmp_path, monkeypatch, host, extra):
    monkeypatch.setenv("MB_PW", "pw")
    settings = load_settings(write(tmp_path, SMTP_LOGIN.format(host=host, extra=extra)))
    assert settings.smtp.connection.security == "plain"


def test_plaintext_smtp_without_a_login_stays_allowed(tmp_path, monkeypatch):
    """Port 25 to a relay that takes mail without a login (a smarthost on the LAN) carries no secret."""
    monkeypatch.setenv("MB_PW", "pw")
    text = BASE.replace('[smtp]\nhost = "127.0.0.1"\n', '[smtp]\nhost = "relay.lan"\nsecurity = "plain"\n')
    assert load_settings(write(tmp_path, text)).smtp.connection.host == "relay.lan"
