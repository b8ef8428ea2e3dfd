"""[[mailboxes]] connection options, folders, after_sync, unknown mail, IDLE and alert keys: parsed or refused in one line."""

from pathlib import Path

import pytest

from mailbridge.base.config.settings import load_settings
from mailbridge.base.errors import ConfigError

BASE = """
[support]
from_address = "support@shop.example"
[smtp]
host = "127.0.0.1"
[[mailboxes]]
name = "support"
username = "support@shop.example"
password_env = "MB_PW"
"""


@pytest.fixture(autouse=True)
def password(monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")


def load(tmp_path: Path, text: str, host: str = "imap.shop.example"):
    path = tmp_path / "mailbridge.toml"
    path.write_text(BASE + f'host = "{host}"\n' + text)
    return load_settings(path)


def error_for(tmp_path: Path, text: str, host: str = "imap.shop.example") -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, host)
    return str(caught.value)


def test_defaults_of_new_mailbox_keys(tmp_path):
    mailbox = load(tmp_path, "").mailboxes[0]
    assert mailbox.folders == ("INBOX",) and mailbox.folder == "INBOX"
    assert (mailbox.after_sync, mailbox.create_tickets_for_unknown, mailbox.unknown_folder) == ("seen", True, None)
    assert (mailbox.idle_timeout_seconds, mailbox.alert_after_minutes) == (1500.0, 30.0)
    assert (mailbox.connection.tls_min_version, mailbox.connection.allow_insecure) == ("1.2", False)


def test_plain_to_a_remote_host_names_the_key(tmp_path):
    message = error_for(tmp_path, 'security = "plain"\n')
    assert message == (
        f'{tmp_path}/mailbridge.toml: [mailboxes.0] security: expected "ssl" or "starttls" for the '
        "non-loopback host 'imap.shop.example' (or allow_insecure = true), got 'plain'"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.53"])
def test_plain_to_loopback_is_allowed(tmp_path, host):
    assert load(tmp_path, 'security = "plain"\n', host).mailboxes[0].connection.port == 143


def test_allow_insecure_permits_plain_to_a_remote_host(tmp_path):
    connection = load(tmp_path, 'security = "plain"\nallow_insecure = true\n').mailboxes[0].connection
    assert (connection.security, connection.allow_insecure) == ("plain", True)


def test_folders_list_is_read(tmp_path):
    assert load(tmp_path, 'folders = ["INBOX", "Orders"]\n').mailboxes[0].folders == ("INBOX", "Orders")


def test_folder_alias_still_works(tmp_path):
    assert load(tmp_path, 'folder = "Orders"\n').mailboxes[0].folders == ("Orders",)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("folders = []\n", "[mailboxes.0] folders: expected a list of distinct folder names"),
        ('folders = ["INBOX", "INBOX"]\n', "[mailboxes.0] folders: expected a list of distinct folder names"),
        ('folders = "INBOX"\n', "[mailboxes.0] folders: expected a list of distinct folder names"),
        ('folder = "A"\nfolders = ["B"]\n', "[mailboxes.0] folders: expected either folder or folders, not both"),
        ('after_sync = "move:"\n', '[mailboxes.0] after_sync: expected "seen" | "keep" | "delete" | "move:FOLDER"'),
        ('after_sync = "archive"\n', "got 'archive'"),
        ('tls_min_version = "1.1"\n', '[mailboxes.0] tls_min_version: expected one of "1.2" | "1.3", got \'1.1\''),
        ('create_tickets_for_unknown = "no"\n', "[mailboxes.0] create_tickets_for_unknown: expected true or false"),
        ("idle_timeout_seconds = 1800\n", "[mailboxes.0] idle_timeout_seconds: expected a number 10-1740, got 1800"),
        ("alert_after_minutes = 0\n", "[mailboxes.0] alert_after_minutes: expected a number >= 1, got 0"),
        ('client_cert_file = "missing.pem"\n', "[mailboxes.0] client_cert_file: expected an existing PEM file"),
    ],
)
def test_bad_new_key_is_one_line_naming_key_and_expectation(tmp_path, text, expected):
    message = error_for(tmp_path, text)
    assert expected in message and "\n" not in message and str(tmp_path) in message


def test_client_key_without_certificate_is_refused(tmp_path):
    (tmp_path / "client.key").write_text("key")
    assert "client_key_file: expected client_cert_file to be set as well" in error_for(
        tmp_path, 'client_key_file = "client.key"\n'
    )


def test_move_after_sync_and_unknown_folder_are_kept(tmp_path):
    mailbox = load(
        tmp_path, 'after_sync = "move:Done"\ncreate_tickets_for_unknown = false\nunknown_folder = "Unknown"\n'
    ).mailboxes[0]
    assert (mailbox.after_sync, mailbox.create_tickets_for_unknown, mailbox.unknown_folder) == (
        "move:Done",
        False,
        "Unknown",
    )


def test_admin_address_is_checked(tmp_path):
    path = tmp_path / "mailbridge.toml"
    path.write_text(
        BASE.replace(
            'from_address = "support@shop.example"',
            'from_address = "support@shop.example"\nadmin_address = "not an address"',
        )
        + 'host = "imap.shop.example"\n'
    )
    with pytest.raises(ConfigError, match=r"\[support\] admin_address: expected an email address"):
        load_settings(path)
