"""`mailbridge init` that helps: a failed test is tried again or its answers edited (the others kept), a security
that misfits the port is named in under 2 s, SMTP errors name server, port and user, a secret file is made."""

from __future__ import annotations

import socket
import stat
import time
import tomllib

import pytest

from tests.conftest import SUPPORT_USER, run_cli
from tests.integration.test_cli_json import error_lines
from tests.servers.smtp_sink import start_smtp_sink

HINT_BOUND_SECONDS = 5.0  # the sniff's budget is 2 s; generous for a loaded machine


@pytest.fixture
def env(dovecot):
    return {"MAILBRIDGE_IMAP_PASSWORD": "wrong", "GOOD_IMAP_PASSWORD": dovecot.password}


def flags(dovecot, smtp_port: int, folder: str, **overrides: str) -> list[str]:
    """Every answer but the admin address and the secret file, as init options."""
    values = {
        "--support-address": SUPPORT_USER,
        "--from-name": "Shop support",
        "--database-url": "sqlite:///mailbridge.db",
        "--imap-host": "127.0.0.1",
        "--imap-port": str(dovecot.imaps_port),
        "--imap-security": "ssl",
        "--imap-username": SUPPORT_USER,
        "--imap-auth": "password",
        "--imap-password-env": "MAILBRIDGE_IMAP_PASSWORD",
        "--imap-ca-file": dovecot.ca_file,
        "--imap-folder": folder,
        "--initial-sync": "import",
        "--smtp-host": "127.0.0.1",
        "--smtp-port": str(smtp_port),
        "--smtp-security": "plain",
        "--smtp-username": "",
        "--smtp-ca-file": "",
    }
    values.update(overrides)
    return [item for pair in values.items() for item in pair]


def written(tmp_path) -> dict:
    return tomllib.loads((tmp_path / "mailbridge.toml").read_text())


def test_wrong_imap_password_then_edited_variable_keeps_the_other_answers(tmp_path, dovecot, sink, mailbox, env):
    # Asked: admin address, secret file (default); then after the failure: e(dit), the IMAP answers with the
    # earlier ones as defaults (Enter keeps host, port, security, username and the password login) but another
    # password variable.
    typed = "ops@shop.example\n\ne\n\n\n\n\n\nGOOD_IMAP_PASSWORD\n\n"
    result = run_cli("init", *flags(dovecot, sink.port, mailbox), env=env, cwd=tmp_path, input=typed)
    assert result.returncode == 0, result.stderr
    assert "failed: mailbox 'support'" in result.stdout and "login refused" in result.stdout
    assert "ok  IMAP 127.0.0.1" in result.stdout and "ok  SMTP connected" in result.stdout
    config = written(tmp_path)
    imap = config["mailboxes"][0]
    assert imap["password_env"] == "GOOD_IMAP_PASSWORD"
    assert (imap["port"], imap["folders"], imap["ca_file"], imap["initial_sync"]) == (
        dovecot.imaps_port,
        [mailbox],
        dovecot.ca_file,
        "import",
    )
    assert config["support"]["admin_address"] == "ops@shop.example"
    assert config["support"]["from_name"] == "Shop support" and config["smtp"]["port"] == sink.port
    assert config["support"]["secret_file"] == "mailbridge.secret" and "secret_env" not in config["support"]
    secret = tmp_path / "mailbridge.secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_text().strip()) >= 43
    assert "wrote the reply-token secret to" in result.stdout


def test_retry_then_give_up_prints_every_answer_and_writes_nothing(tmp_path, dovecot, sink, mailbox, env):
    result = run_cli("init", *flags(dovecot, sink.port, mailbox), env=env, cwd=tmp_path, input="\n\nr\na\n")
    assert result.returncode == 1
    assert result.stdout.count("failed: mailbox 'support'") == 2  # tested twice
    [again] = [line for line in result.stdout.splitlines() if line.startswith("your answers, to start again:")]
    assert f"--imap-folder {mailbox}" in again and f"--imap-port {dovecot.imaps_port}" in again
    assert "--secret-file mailbridge.secret" in again
    [line] = error_lines(result.stderr)
    assert line.startswith("mailbridge: error: mailbox 'support'") and "login refused" in line
    assert list(tmp_path.iterdir()) == []  # no configuration, no secret file


def test_plain_to_the_tls_port_is_named_and_the_security_edited(tmp_path, dovecot, sink, mailbox, env):
    env = {**env, "MAILBRIDGE_IMAP_PASSWORD": dovecot.password}
    typed = "\n\ne\n\n\nssl\n\n\n\n\n"  # admin, secret file; edit: host, port, security -> ssl, the rest kept
    args = flags(dovecot, sink.port, mailbox, **{"--imap-security": "plain"})
    started = time.monotonic()
    result = run_cli("init", *args, env=env, cwd=tmp_path, input=typed)
    assert result.returncode == 0, result.stderr
    assert f"port {dovecot.imaps_port} speaks TLS: use security = ssl" in result.stdout
    assert written(tmp_path)["mailboxes"][0]["security"] == "ssl"
    print(f"init with one TLS hint and a retest: {time.monotonic() - started:.2f} s")


@pytest.mark.parametrize(
    "security, port_name, hint",
    [
        ("plain", "imaps_port", "speaks TLS: use security = ssl"),
        ("starttls", "imaps_port", "speaks TLS: use security = ssl"),
        ("ssl", "imap_port", "speaks plaintext, not TLS"),
    ],
)
def test_imap_security_that_misfits_the_port_is_named_quickly(config_file, dovecot, security, port_name, hint):
    port = getattr(dovecot, port_name)
    path = config_file(security=security, imap_port=port)
    started = time.monotonic()
    result = run_cli("mailboxes", "test", config=path)
    took = time.monotonic() - started
    print(f"IMAP {security} to port {port}: hint after {took:.2f} s")
    [line] = error_lines(result.stderr)
    assert result.returncode == 1 and f"port {port} {hint}" in line and took < HINT_BOUND_SECONDS


def smtp_config(path, sink_port: int, **smtp: str | int) -> None:
    """Replace the test configuration's [smtp] security/port lines with these keys."""
    text = path.read_text()
    lines = "\n".join(f"{key} = {value!r}".replace("'", '"') for key, value in smtp.items())
    path.write_text(text.replace(f'port = {sink_port}\nsecurity = "plain"', lines))


@pytest.mark.parametrize("security, hint", [("ssl", "speaks plaintext, not TLS"), ("starttls", None)])
def test_smtp_ssl_to_a_plain_port_is_named_quickly(config_file, sink, security, hint):
    path = config_file()
    smtp_config(path, sink.port, port=sink.port, security=security)
    started = time.monotonic()
    result = run_cli("smtp", "test", "--to", "admin@shop.example", config=path)
    took = time.monotonic() - started
    print(f"SMTP {security} to a plaintext port: {took:.2f} s")
    [line] = error_lines(result.stderr)
    assert result.returncode == 1 and line.startswith(f"mailbridge: error: 127.0.0.1:{sink.port}: ")
    if hint:
        assert f"port {sink.port} {hint}" in line and took < HINT_BOUND_SECONDS
    else:  # the sink offers no STARTTLS: said as such, with no hint
        assert "speaks" not in line


def test_smtp_plain_to_a_tls_port_is_named_quickly(config_file, sink, dovecot):
    path = config_file()
    smtp_config(path, sink.port, port=dovecot.imaps_port, security="plain")  # any implicit-TLS port will do
    started = time.monotonic()
    result = run_cli("smtp", "test", "--to", "admin@shop.example", config=path)
    took = time.monotonic() - started
    print(f"SMTP plain to a TLS port: hint after {took:.2f} s")
    [line] = error_lines(result.stderr)
    assert (
        line
        == f"mailbridge: error: 127.0.0.1:{dovecot.imaps_port}: port {dovecot.imaps_port} speaks TLS: use security = ssl"
    )
    assert took < HINT_BOUND_SECONDS


def test_a_silent_port_gets_no_hint_but_the_timeout(config_file):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections (backlog), never says a word
        path = config_file(security="plain", imap_port=silent.getsockname()[1])
        result = run_cli("mailboxes", "test", config=path)
    [line] = error_lines(result.stderr)
    assert result.returncode == 1 and "timed out after 5s" in line and "speaks" not in line


@pytest.fixture(scope="module")
def auth_sink():
    sink = start_smtp_sink(require_auth=("mailer", "right-password"))
    yield sink
    sink.stop()


def test_smtp_auth_failure_names_server_port_and_user(config_file, sink, auth_sink, monkeypatch):
    monkeypatch.setenv("SMTP_TEST_PASSWORD", "wrong-password")
    path = config_file()
    smtp_config(
        path, sink.port, port=auth_sink.port, security="plain", username="mailer", password_env="SMTP_TEST_PASSWORD"
    )
    result = run_cli("smtp", "test", "--to", "admin@shop.example", config=path)
    expected = f"mailbridge: error: 127.0.0.1:{auth_sink.port} as mailer: 535 5.7.8 Authentication credentials invalid"
    assert result.returncode == 1 and error_lines(result.stderr) == [expected]


def test_init_smtp_auth_failure_with_yes_is_one_line_naming_the_user(tmp_path, dovecot, auth_sink, mailbox, env):
    env = {**env, "MAILBRIDGE_IMAP_PASSWORD": dovecot.password, "SMTP_TEST_PASSWORD": "wrong-password"}
    args = flags(dovecot, auth_sink.port, mailbox, **{"--smtp-username": "mailer"})
    result = run_cli("init", "--yes", *args, "--smtp-password-env", "SMTP_TEST_PASSWORD", env=env, cwd=tmp_path)
    expected = f"mailbridge: error: 127.0.0.1:{auth_sink.port} as mailer: 535 5.7.8 Authentication credentials invalid"
    assert result.returncode == 1 and error_lines(result.stderr) == [expected]
    assert list(tmp_path.iterdir()) == []


def test_init_again_with_force_keeps_an_existing_secret_file(tmp_path, dovecot, sink, mailbox, env):
    env = {**env, "MAILBRIDGE_IMAP_PASSWORD": dovecot.password}
    args = ["init", "--yes", *flags(dovecot, sink.port, mailbox), "--secret-file", "private/token"]
    (tmp_path / "private").mkdir()
    first = run_cli(*args, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "wrote the reply-token secret to" in first.stdout
    secret = (tmp_path / "private" / "token").read_text()
    again = run_cli(*args, "--force", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "wrote the reply-token secret" not in again.stdout and (tmp_path / "private" / "token").read_text() == secret
    assert written(tmp_path)["support"]["secret_file"] == "private/token"
