"""`mailbridge init` from an empty directory, then `run --once` against the test Dovecot and SMTP sink."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SUPPORT_USER, CliResult, customer_mail, run_cli, run_cli_process


def mailbridge(cwd, *args, env=None) -> CliResult:
    """Run `mailbridge ARGS` in `cwd` (in this process) as a new user would (no --config: ./mailbridge.toml)."""
    return run_cli(*args, env=env, cwd=cwd)


@pytest.fixture
def init_env(dovecot):
    return {"MAILBRIDGE_IMAP_PASSWORD": dovecot.password, "MAILBRIDGE_SECRET": "a-secret-for-tokens"}


def init_flags(dovecot, sink, folder: str) -> list[str]:
    return [
        "init",
        "--yes",
        "--support-address",
        SUPPORT_USER,
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        str(dovecot.imaps_port),
        "--imap-ca-file",
        dovecot.ca_file,
        "--imap-folder",
        folder,
        "--initial-sync",
        "import",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(sink.port),
        "--smtp-security",
        "plain",
        "--secret-env",  # the reply-token secret from a variable (without it: a secret file init makes)
        "MAILBRIDGE_SECRET",
    ]


def test_init_then_run_once_creates_a_ticket_and_sends_a_receipt(tmp_path, dovecot, sink, mailbox, init_env):
    """The end-to-end smoke test of the installed program: every step is a real `python -m mailbridge` process."""
    home = tmp_path / "new-install"
    home.mkdir()
    result = run_cli_process(*init_flags(dovecot, sink, mailbox), env=init_env, cwd=home)
    assert result.returncode == 0, result.stderr
    assert "ok  IMAP" in result.stdout and "ok  SMTP connected" in result.stdout
    assert "set MAILBRIDGE_IMAP_PASSWORD, MAILBRIDGE_SECRET" in result.stdout
    text = (home / "mailbridge.toml").read_text()
    assert 'password_env = "MAILBRIDGE_IMAP_PASSWORD"' in text and "\npassword =" not in text
    assert "# Written by `mailbridge init`" in text and "# required, unique" in text  # comments kept
    assert (home / "mailbridge.db").exists()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Where is my parcel?"))
    run = run_cli_process("run", "--once", env=init_env, cwd=home)
    assert run.returncode == 0, run.stderr
    listed = json.loads(run_cli_process("tickets", "list", "--json", env=init_env, cwd=home).stdout)
    assert [t["subject"] for t in listed] == ["Where is my parcel?"]
    assert [m.rcpt_tos for m in sink.messages] == [("anna@example.org",)]


def test_init_refuses_to_overwrite_without_force(tmp_path, dovecot, sink, mailbox, init_env):
    (tmp_path / "mailbridge.toml").write_text("# mine\n")
    result = mailbridge(tmp_path, *init_flags(dovecot, sink, mailbox), env=init_env)
    assert result.returncode == 1 and "exists already; use --force" in result.stderr
    assert (tmp_path / "mailbridge.toml").read_text() == "# mine\n"


def test_init_with_yes_names_the_missing_flag(tmp_path, init_env):
    result = mailbridge(tmp_path, "init", "--yes", "--support-address", SUPPORT_USER, env=init_env)
    assert result.returncode == 1
    assert result.stderr.strip() == "mailbridge: error: --imap-host: required with --yes"


def test_init_names_unset_secret_variables_and_writes_nothing(tmp_path, dovecot, sink, mailbox):
    unset = {"MAILBRIDGE_IMAP_PASSWORD": None, "MAILBRIDGE_SECRET": None}
    result = mailbridge(tmp_path, *init_flags(dovecot, sink, mailbox), env=unset)
    assert result.returncode == 1 and "MAILBRIDGE_IMAP_PASSWORD, MAILBRIDGE_SECRET first" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_with_a_wrong_password_writes_nothing(tmp_path, dovecot, sink, mailbox, init_env):
    result = mailbridge(
        tmp_path, *init_flags(dovecot, sink, mailbox), env={**init_env, "MAILBRIDGE_IMAP_PASSWORD": "wrong"}
    )
    assert result.returncode == 1 and "login refused" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
