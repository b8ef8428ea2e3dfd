"""OAuth2 logins (XOAUTH2, OAUTHBEARER) against a real Dovecot whose oauth2 passdb asks our introspection endpoint."""

from __future__ import annotations

import asyncio
import itertools
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailbridge.base.config.settings import load_settings
from mailbridge.runtime.app import build_app
from mailbridge.runtime.jobs import poll_mailboxes
from mailbridge.store.models import Ticket
from tests.conftest import IMAP_PASSWORD_ENV, SECRET_ENV, SUPPORT_USER, customer_mail, run_cli, run_once, toml_config
from tests.servers.dovecot import DovecotServer, start_dovecot
from tests.servers.oauth2_server import OAuth2Server, start_oauth2_server

_folders = itertools.count(1)
# Prints the current token; after a call it moves on to TOKEN.next when present, like a helper that
# refreshed its access token. Every call is counted in TOKEN.calls.
HELPER = """#!/bin/sh
echo call >> "$1.calls"
cat "$1"
if [ -f "$1.next" ]; then mv "$1.next" "$1"; fi
"""


@pytest.fixture(scope="module")
def oauth2_server() -> Iterator[OAuth2Server]:
    server = start_oauth2_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dovecot_oauth2(tmp_path_factory, oauth2_server) -> Iterator[DovecotServer]:
    """A Dovecot offering XOAUTH2 and OAUTHBEARER, checked against oauth2_server; passwords still work for setup."""
    server = start_dovecot(
        tmp_path_factory.mktemp("dovecot-oauth2"), oauth2_introspection_url=oauth2_server.introspection_url
    )
    try:
        server.add_user(SUPPORT_USER)
        yield server
    finally:
        server.stop()


@pytest.fixture
def folder(dovecot_oauth2) -> str:
    name = f"O{next(_folders)}"
    dovecot_oauth2.create_folder(SUPPORT_USER, name)
    return name


@pytest.fixture
def token_path(tmp_path) -> Path:
    return tmp_path / "token"


@pytest.fixture
def write_config(tmp_path, dovecot_oauth2, sink, folder, monkeypatch, token_path):
    """Write mailbridge.toml for the OAuth2 Dovecot: auth and a token command (the helper) or the token file."""
    monkeypatch.setenv(SECRET_ENV, "test-secret-for-reply-tokens")
    helper = tmp_path / "token-helper"
    helper.write_text(HELPER)
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)

    def write(auth: str = "xoauth2", source: str = "command", extra_mailbox: str = "") -> Path:
        token_line = (
            f'oauth2_token_command = "{helper} {token_path}"'
            if source == "command"
            else f'oauth2_token_file = "{token_path}"'
        )
        text = toml_config(
            db_url=f"sqlite:///{tmp_path}/mailbridge.db",
            smtp_port=sink.port,
            imap_port=dovecot_oauth2.imaps_port,
            folder=folder,
            ca_file=dovecot_oauth2.ca_file,
            extra_mailbox=f'auth = "{auth}"\n{token_line}\n{extra_mailbox}',
        )
        path = tmp_path / "mailbridge.toml"
        path.write_text(text.replace(f'password_env = "{IMAP_PASSWORD_ENV}"\n', ""), encoding="utf-8")
        return path

    return write


def tickets(app) -> list[Ticket]:
    with Session(app.engine) as session:
        return list(session.exec(select(Ticket)))


def helper_calls(token_path: Path) -> int:
    calls = token_path.with_name(token_path.name + ".calls")
    return len(calls.read_text().splitlines()) if calls.exists() else 0


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_oauth2_login_polls_mail_end_to_end(
    write_config, clock, dovecot_oauth2, oauth2_server, folder, token_path, auth
):
    token = oauth2_server.issue(SUPPORT_USER)
    token_path.write_text(token + "\n")
    app = build_app(load_settings(write_config(auth)), clock=clock)
    uid = dovecot_oauth2.append(SUPPORT_USER, folder, customer_mail())
    report = run_once(app)
    assert not report.errors
    assert len(tickets(app)) == 1
    assert "\\Seen" in dovecot_oauth2.flags(SUPPORT_USER, folder)[uid]
    assert oauth2_server.requests[-1] == token and helper_calls(token_path) == 1
    assert f"method={auth.upper()}" in dovecot_oauth2.log_path.read_text()


def test_expired_token_is_fetched_again_and_the_poll_succeeds(
    write_config, clock, dovecot_oauth2, oauth2_server, folder, token_path
):
    old = oauth2_server.issue(SUPPORT_USER)
    token_path.write_text(old + "\n")
    app = build_app(load_settings(write_config()), clock=clock)
    assert not run_once(app).errors
    oauth2_server.expire(old)
    renewed = oauth2_server.issue(SUPPORT_USER)
    token_path.with_name("token.next").write_text(renewed + "\n")
    dovecot_oauth2.append(SUPPORT_USER, folder, customer_mail())
    assert not run_once(app).errors
    assert len(tickets(app)) == 1
    assert oauth2_server.requests[-2:] == [old, renewed] and helper_calls(token_path) == 3


def test_token_file_is_read_again_after_a_rejection(
    write_config, clock, dovecot_oauth2, oauth2_server, folder, token_path
):
    token_path.write_text(oauth2_server.issue(SUPPORT_USER))
    app = build_app(load_settings(write_config("oauthbearer", source="file")), clock=clock)
    assert not run_once(app).errors
    oauth2_server.expire(token_path.read_text())
    token_path.write_text(oauth2_server.issue(SUPPORT_USER) + "\n")
    dovecot_oauth2.append(SUPPORT_USER, folder, customer_mail())
    assert not run_once(app).errors
    assert len(tickets(app)) == 1


def test_token_that_stays_rejected_is_one_clear_line(write_config, dovecot_oauth2, oauth2_server, token_path):
    token_path.write_text("tok-revoked-never-accepted\n")
    result = run_cli("run", "--once", config=write_config())
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith("mailbridge: error:")]
    assert line.startswith("mailbridge: error: mailbox 'support' (127.0.0.1:")
    assert "OAuth2 token rejected for 'support@shop.example' (XOAUTH2, fetched twice;" in line
    assert "tok-revoked" not in result.stdout + result.stderr
    assert helper_calls(token_path) == 2


def test_failing_token_helper_names_the_mailbox_and_its_stderr(write_config, clock, dovecot_oauth2, tmp_path):
    helper = tmp_path / "broken-helper"
    helper.write_text("#!/bin/sh\necho 'oama: refresh token revoked' >&2\nexit 4\n")
    helper.chmod(0o755)
    path = write_config()
    path.write_text(path.read_text().replace(str(tmp_path / "token-helper"), str(helper)))
    app = build_app(load_settings(path), clock=clock)
    [error] = asyncio.run(poll_mailboxes(app))[1]
    assert error.endswith(
        "mailbox 'support': oauth2_token_command broken-helper failed with exit code 4: oama: refresh token revoked"
    )


def test_mailboxes_test_logs_in_with_the_token(write_config, dovecot_oauth2, oauth2_server, folder, token_path):
    token_path.write_text(oauth2_server.issue(SUPPORT_USER) + "\n")
    result = run_cli("mailboxes", "test", "support", config=write_config("oauthbearer"))
    assert result.returncode == 0, result.stderr
    assert f"folder {folder}: 0 messages" in result.stdout


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_init_with_a_token_file_logs_in_with_it_and_asks_no_password(
    tmp_path, dovecot_oauth2, oauth2_server, sink, folder, token_path, auth
):
    from tests.integration.test_init_helps import flags

    token_path.write_text(oauth2_server.issue(SUPPORT_USER) + "\n")
    home = tmp_path / "install"
    home.mkdir()
    args = flags(
        dovecot_oauth2, sink.port, folder, **{"--imap-auth": auth, "--imap-oauth2-token-file": str(token_path)}
    )
    env = {IMAP_PASSWORD_ENV: None, SECRET_ENV: None}  # a token login needs no password variable
    result = run_cli("init", "--yes", *args, env=env, cwd=home)
    assert result.returncode == 0, result.stderr
    assert f"ok  IMAP 127.0.0.1:{dovecot_oauth2.imaps_port}: logged in" in result.stdout
    assert "wherever mailbridge runs" not in result.stdout  # no variable to set
    mailbox = tomllib.loads((home / "mailbridge.toml").read_text())["mailboxes"][0]
    assert (mailbox["auth"], mailbox["oauth2_token_file"]) == (auth, str(token_path))
    assert "password_env" not in mailbox and "oauth2_token_command" not in mailbox
    assert oauth2_server.requests[-1] == token_path.read_text().strip()
    assert f"method={auth.upper()}" in dovecot_oauth2.log_path.read_text()
