"""SMTP with OAuth2 (XOAUTH2, OAUTHBEARER): the outbox and `mailbridge smtp test` log in to an aiosmtpd relay whose
tokens are checked by our introspection endpoint; a refused token is fetched again once, then the mail waits."""

from __future__ import annotations

import asyncio
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailbridge.base.config.oauth2 import OAuth2Settings
from mailbridge.base.config.settings import ConnectionSettings, load_settings
from mailbridge.outbox.smtp import SmtpSender
from mailbridge.runtime.app import build_app
from mailbridge.store.models import OutboxMail
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.servers.oauth2_server import OAuth2Server, start_oauth2_server
from tests.servers.smtp_sink import SmtpSink, start_smtp_sink

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
def relay(oauth2_server) -> Iterator[SmtpSink]:
    """An SMTP relay that requires AUTH XOAUTH2 or OAUTHBEARER, checked by oauth2_server."""
    sink = start_smtp_sink(oauth2=oauth2_server)
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def token_path(tmp_path, relay) -> Path:
    relay.clear()
    return tmp_path / "token"


@pytest.fixture
def write_config(tmp_path, config_file, relay, token_path):
    """Write mailbridge.toml: IMAP with the password as everywhere, [smtp] with auth and the token helper or file."""
    helper = tmp_path / "token-helper"
    helper.write_text(HELPER)
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)

    def write(auth: str = "xoauth2", source: str = "command") -> Path:
        token_line = (
            f'oauth2_token_command = "{helper} {token_path}"'
            if source == "command"
            else f'oauth2_token_file = "{token_path}"'
        )
        path = config_file(smtp_port=relay.port)
        smtp = f'[smtp]\nusername = "{SUPPORT_USER}"\nauth = "{auth}"\n{token_line}\n'
        path.write_text(path.read_text().replace("[smtp]\n", smtp, 1))
        return path

    return write


def outbox_rows(app) -> list[OutboxMail]:
    with Session(app.engine) as session:
        return list(session.exec(select(OutboxMail).order_by(OutboxMail.id)))


def helper_calls(token_path: Path) -> int:
    calls = token_path.with_name(token_path.name + ".calls")
    return len(calls.read_text().splitlines()) if calls.exists() else 0


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_receipt_is_delivered_with_a_token_from_the_command(
    write_config, clock, dovecot, mailbox, relay, oauth2_server, token_path, auth
):
    token = oauth2_server.issue(SUPPORT_USER)
    token_path.write_text(token + "\n")
    app = build_app(load_settings(write_config(auth)), clock=clock)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [row] = outbox_rows(app)
    assert row.status == "sent"
    [received] = relay.messages
    assert received.rcpt_tos == ("anna@example.org",)
    assert relay.logins == [(auth.upper(), SUPPORT_USER)]
    assert oauth2_server.requests[-1] == token and helper_calls(token_path) == 1


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_expired_token_is_fetched_again_once_and_the_mail_goes_out(
    write_config, clock, dovecot, mailbox, relay, oauth2_server, token_path, auth
):
    expired = "tok-expired-an-hour-ago"
    renewed = oauth2_server.issue(SUPPORT_USER)
    token_path.write_text(expired + "\n")
    token_path.with_name("token.next").write_text(renewed + "\n")
    app = build_app(load_settings(write_config(auth)), clock=clock)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [row] = outbox_rows(app)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")
    assert len(relay.messages) == 1 and relay.logins == [(auth.upper(), SUPPORT_USER)]
    assert oauth2_server.requests[-2:] == [expired, renewed] and helper_calls(token_path) == 2
    # Both logins were on one connection: the refusal ended the SASL exchange cleanly.
    assert relay.connections == 1


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_token_refused_twice_keeps_the_mail_queued_with_the_servers_reply(
    write_config, clock, dovecot, mailbox, relay, oauth2_server, token_path, auth
):
    token_path.write_text("tok-revoked-never-accepted\n")
    app = build_app(load_settings(write_config(auth)), clock=clock)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [row] = outbox_rows(app)
    assert (row.status, row.attempts) == ("queued", 1) and relay.messages == []
    assert row.last_error == (
        f"OAuth2 token refused for '{SUPPORT_USER}' ({auth.upper()}, fetched twice): "
        "535 5.7.8 Username and Password not accepted (token refused) "
        '({"status": "invalid_token", "schemes": "bearer", "scope": "https://outlook.office.com/SMTP.Send"})'
    )
    assert helper_calls(token_path) == 2
    # Once the operator fixes the token, the waiting mail goes out at its next attempt.
    token_path.write_text(oauth2_server.issue(SUPPORT_USER) + "\n")
    clock.advance(minutes=10)
    run_once(app)
    assert outbox_rows(app)[0].status == "sent" and len(relay.messages) == 1


def test_token_file_is_read_again_after_a_refusal(
    write_config, clock, dovecot, mailbox, relay, oauth2_server, token_path
):
    token_path.write_text(oauth2_server.issue(SUPPORT_USER))
    app = build_app(load_settings(write_config("oauthbearer", source="file")), clock=clock)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    oauth2_server.expire(token_path.read_text())
    token_path.write_text(oauth2_server.issue(SUPPORT_USER) + "\n")
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Another question"))
    run_once(app)
    assert [row.status for row in outbox_rows(app)] == ["sent", "sent"] and len(relay.logins) == 2


def test_token_too_long_for_the_command_line_is_sent_after_the_challenge(
    write_config, clock, dovecot, mailbox, relay, oauth2_server, token_path
):
    # Microsoft's access tokens run to 2,000 characters and more: over the 512 octets of an SMTP command line.
    token = "eyJ0eXAiOiJKV1Qi." + "x" * 2400
    oauth2_server.tokens[token] = SUPPORT_USER
    token_path.write_text(token + "\n")
    app = build_app(load_settings(write_config()), clock=clock)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    assert outbox_rows(app)[0].status == "sent" and relay.logins == [("XOAUTH2", SUPPORT_USER)]


def test_failing_token_helper_keeps_the_mail_queued_and_names_it(
    write_config, clock, dovecot, mailbox, relay, tmp_path
):
    helper = tmp_path / "broken-helper"
    helper.write_text("#!/bin/sh\necho 'oama: refresh token revoked' >&2\nexit 4\n")
    helper.chmod(0o755)
    path = write_config()
    path.write_text(path.read_text().replace(str(tmp_path / "token-helper"), str(helper)))
    app = build_app(load_settings(path), clock=clock)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    [row] = outbox_rows(app)
    assert row.status == "queued" and relay.messages == []
    assert (
        row.last_error
        == "smtp: oauth2_token_command broken-helper failed with exit code 4: oama: refresh token revoked"
    )


def test_starttls_then_oauthbearer_over_one_connection_for_many_mails(certs, oauth2_server, token_path):
    relay = start_smtp_sink(tls=certs, oauth2=oauth2_server)
    token_path.write_text(oauth2_server.issue(SUPPORT_USER) + "\n")
    connection = ConnectionSettings(
        host="127.0.0.1",
        port=relay.port,
        security="starttls",
        validate_cert=True,
        ca_file=str(certs.ca_file),
        username=SUPPORT_USER,
        password=None,
        timeout_seconds=5,
        oauth2=OAuth2Settings("oauthbearer", token_file=str(token_path)),
    )
    raw = b"From: support@shop.example\r\nTo: anna@example.org\r\nSubject: t\r\n\r\nHi\r\n"

    async def send_three() -> None:
        async with SmtpSender(connection).connection() as smtp:
            for _ in range(3):
                await smtp.send(mail_from=SUPPORT_USER, recipients=["anna@example.org"], raw=raw)

    try:
        asyncio.run(send_three())
        assert len(relay.messages) == 3 and relay.connections == 1
        assert relay.logins == [("OAUTHBEARER", SUPPORT_USER)]
    finally:
        relay.stop()


def test_smtp_test_logs_in_with_the_token(write_config, relay, oauth2_server, token_path):
    token_path.write_text(oauth2_server.issue(SUPPORT_USER) + "\n")
    result = run_cli("smtp", "test", "--to", "me@shop.example", config=write_config("oauthbearer"))
    assert result.returncode == 0, result.stderr
    assert f"ok  logged in as {SUPPORT_USER} with an OAuth2 token (OAUTHBEARER)" in result.stdout
    assert [m.rcpt_tos for m in relay.messages] == [("me@shop.example",)]


def test_smtp_test_with_a_refused_token_is_one_clear_line(write_config, relay, token_path):
    token_path.write_text("tok-revoked-never-accepted\n")
    result = run_cli("smtp", "test", "--to", "me@shop.example", config=write_config())
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith("mailbridge: error:")]
    assert line.startswith(
        f"mailbridge: error: 127.0.0.1:{relay.port} as {SUPPORT_USER}: OAuth2 token refused for '{SUPPORT_USER}' "
        "(XOAUTH2, fetched twice): 535 5.7.8"
    )
    assert "tok-revoked" not in result.stdout + result.stderr
    assert helper_calls(token_path) == 2 and relay.messages == []


# `mailbridge init` asks how SMTP logs in, writes `[smtp] auth` and the token keys, and tests the login with the token.


def init_flags(dovecot, relay, mailbox: str, **overrides: str) -> list[str]:
    from tests.integration.test_init_helps import flags

    return ["init", *flags(dovecot, relay.port, mailbox, **{"--smtp-username": SUPPORT_USER, **overrides})]


def init_env(dovecot) -> dict[str, str | None]:
    return {"MAILBRIDGE_IMAP_PASSWORD": dovecot.password, "MAILBRIDGE_SMTP_PASSWORD": None}


def test_init_asks_for_the_smtp_token_and_after_a_refusal_takes_a_token_file(
    tmp_path, dovecot, mailbox, relay, oauth2_server, write_config, token_path
):
    write_config()  # writes the token helper beside the test's files
    helper = f"{tmp_path / 'token-helper'} {token_path}"
    token_path.write_text("tok-revoked-never-accepted\n")
    good = tmp_path / "smtp.token"
    good.write_text(oauth2_server.issue(SUPPORT_USER) + "\n")
    home = tmp_path / "install"
    home.mkdir()
    # Asked: admin address, secret file (defaults); SMTP login xoauth2 with the helper command. The helper's token
    # is refused: e(dit) the SMTP answers, Enter keeping host, port, security, username and xoauth2; "-" drops the
    # command, then the token file; Enter keeps the CA file.
    typed = f"\n\nxoauth2\n{helper}\ne\n\n\n\n\n\n-\n{good}\n\n"
    result = run_cli("init", *init_flags(dovecot, relay, mailbox)[1:], env=init_env(dovecot), cwd=home, input=typed)
    assert result.returncode == 0, result.stderr
    assert f"failed: 127.0.0.1:{relay.port} as {SUPPORT_USER}: OAuth2 token refused" in result.stdout
    assert "Variable with the SMTP password" not in result.stdout  # no password asked for a token login
    assert f"ok  SMTP logged in as {SUPPORT_USER} with an OAuth2 token (XOAUTH2)" in result.stdout
    assert relay.logins == [("XOAUTH2", SUPPORT_USER)]
    text = (home / "mailbridge.toml").read_text()
    smtp = tomllib.loads(text)["smtp"]
    assert (smtp["auth"], smtp["oauth2_token_file"], smtp["username"]) == ("xoauth2", str(good), SUPPORT_USER)
    assert "oauth2_token_command" not in smtp and "password_env" not in smtp
    assert f'oauth2_token_file = "{good}"' in text and "# re-read at every login" in text  # set in place
    assert "MAILBRIDGE_SMTP_PASSWORD" not in result.stdout  # no variable to set for SMTP


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_init_with_yes_and_a_token_command_then_run_once_sends_the_receipt(
    tmp_path, dovecot, mailbox, relay, oauth2_server, write_config, token_path, auth
):
    write_config()
    token_path.write_text(oauth2_server.issue(SUPPORT_USER) + "\n")
    home = tmp_path / "install"
    home.mkdir()
    command = f"{tmp_path / 'token-helper'} {token_path}"
    args = [*init_flags(dovecot, relay, mailbox), "--yes", "--smtp-auth", auth, "--smtp-oauth2-token-command", command]
    result = run_cli(*args, env=init_env(dovecot), cwd=home)
    assert result.returncode == 0, result.stderr
    assert f"ok  SMTP logged in as {SUPPORT_USER} with an OAuth2 token ({auth.upper()})" in result.stdout
    smtp = tomllib.loads((home / "mailbridge.toml").read_text())["smtp"]
    assert (smtp["auth"], smtp["oauth2_token_command"]) == (auth, command) and "password_env" not in smtp
    relay.clear()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run = run_cli("run", "--once", env=init_env(dovecot), cwd=home)
    assert run.returncode == 0, run.stderr
    assert [m.rcpt_tos for m in relay.messages] == [("anna@example.org",)]
    assert relay.logins == [(auth.upper(), SUPPORT_USER)]


def test_init_with_yes_and_no_token_source_names_both_options(tmp_path, dovecot, mailbox, relay):
    home = tmp_path / "install"
    home.mkdir()
    result = run_cli(*init_flags(dovecot, relay, mailbox), "--yes", "--smtp-auth", "xoauth2", cwd=home)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "mailbridge: error: --smtp-oauth2-token-command or --smtp-oauth2-token-file: required with --yes"
    )
    assert list(home.iterdir()) == []
