"""`mailbridge mailboxes list|test|add|remove` and `imap test` against the real test Dovecot."""

from __future__ import annotations

import json

import pytest

from tests.conftest import IMAP_PASSWORD_ENV
from tests.integration.test_contacts_cli import invoke
from tests.servers.util import free_port


@pytest.fixture
def cli_with(config_file):
    def run(*args, **overrides):
        return invoke("--config", str(config_file(**overrides)), *args)

    return run


def test_mailbox_test_reports_tls_certificate_capabilities_and_folders(cli_with, mailbox):
    code, out, err = cli_with("mailboxes", "test")
    assert code == 0, err
    assert "TLS: TLSv1.3" in out or "TLS: TLSv1.2" in out
    assert "certificate subject:" in out and "certificate issuer:" in out and "certificate expires:" in out
    assert "IDLE yes" in out and "UIDPLUS yes" in out
    assert f"folder {mailbox}: 0 messages" in out


def test_imap_test_is_an_alias(cli_with):
    code, out, _err = cli_with("imap", "test", "support")
    assert code == 0 and "capabilities:" in out


def test_starttls_mailbox_reports_tls_too(cli_with, dovecot):
    code, out, err = cli_with("mailboxes", "test", security="starttls", imap_port=dovecot.imap_port)
    assert code == 0, err
    assert "TLS: TLSv1." in out


@pytest.mark.parametrize(
    "case, expected",
    [
        ("wrong_password", "login refused for 'support@shop.example'"),
        ("untrusted", "certificate not trusted"),
        ("refused", "connection refused (nothing listens on port"),
        ("tls_port", "speaks TLS: use security = ssl"),
        ("missing_folder", "folder 'NoSuchFolder' does not exist on the server"),
    ],
)
def test_mailbox_test_failure_is_one_specific_line(cli_with, dovecot, monkeypatch, case, expected):
    overrides = {
        "untrusted": {"ca_file": None},
        "refused": {"imap_port": free_port()},
        # plaintext to the IMAPS port: named at once (a silent server's timeout: tests/integration/test_init_helps.py)
        "tls_port": {"security": "plain"},
        "missing_folder": {"folder": "NoSuchFolder"},
    }.get(case, {})
    if case == "wrong_password":
        monkeypatch.setenv(IMAP_PASSWORD_ENV, "wrong")
    code, _out, err = cli_with("mailboxes", "test", **overrides)
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith("mailbridge: error: mailbox 'support'") and expected in line


def test_mailbox_test_unknown_name_is_not_found(cli_with):
    code, _out, err = cli_with("mailboxes", "test", "nope")
    assert code == 1 and "no mailbox named 'nope'" in err


def test_mailbox_add_then_remove_edits_the_file_in_place(config_file, dovecot, mailbox):
    path = config_file()
    path.write_text("# my own comment\n" + path.read_text())

    def run(*a):
        return invoke("--config", str(path), *a)

    code, _out, err = run(
        "mailboxes",
        "add",
        "orders",
        "--host",
        "127.0.0.1",
        "--port",
        str(dovecot.imaps_port),
        "--username",
        "support@shop.example",
        "--password-env",
        IMAP_PASSWORD_ENV,
        "--ca-file",
        dovecot.ca_file,
        "--contact",
        "Orders",
        "--folder",
        mailbox,  # a folder of this test's own, as every other test reads
    )
    assert code == 0, err
    assert [m["name"] for m in json.loads(run("mailboxes", "list", "--json")[1])] == ["support", "orders"]
    assert path.read_text().startswith("# my own comment\n")
    code, _out, err = run("mailboxes", "test", "orders")
    assert code == 0, err
    assert run("mailboxes", "add", "orders", "--host", "h", "--username", "u")[0] == 1
    assert run("mailboxes", "remove", "orders")[0] == 0
    assert [m["name"] for m in json.loads(run("mailboxes", "list", "--json")[1])] == ["support"]
    assert path.read_text().startswith("# my own comment\n")
    code, _out, err = run("mailboxes", "remove", "orders")
    assert code == 1 and "no mailbox named 'orders'" in err


def test_mailbox_add_with_invalid_values_leaves_the_file_alone(config_file):
    path = config_file()
    before = path.read_text()
    code, _out, err = invoke(
        "--config",
        str(path),
        "mailboxes",
        "add",
        "x",
        "--host",
        "imap.example.org",
        "--username",
        "u",
        "--security",
        "tls",
    )
    assert code == 2 and "[mailboxes.1] security" in err and str(path) in err
    assert path.read_text() == before
