"""`[[mailboxes]] contact` and `create_contact`: read into settings, then checked against the known Contacts."""

from pathlib import Path

import pytest

from mailbridge.base.config.mailbox import check_mailbox_contacts
from mailbridge.base.config.settings import load_settings
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


def mailboxes_of(tmp_path: Path, monkeypatch, extra: str):
    monkeypatch.setenv("MB_PW", "pw")
    path = tmp_path / "mailbridge.toml"
    path.write_text(BASE + extra)
    return path, load_settings(path).mailboxes


def test_a_named_contact_is_not_created_by_default(tmp_path, monkeypatch):
    _path, [mailbox] = mailboxes_of(tmp_path, monkeypatch, 'contact = "Webmaster"\n')
    assert (mailbox.contact, mailbox.create_contact) == ("Webmaster", False)


def test_create_contact_true_is_read(tmp_path, monkeypatch):
    _path, [mailbox] = mailboxes_of(tmp_path, monkeypatch, 'contact = "Webmaster"\ncreate_contact = true\n')
    assert mailbox.create_contact is True


def test_the_default_contact_is_created_when_no_contact_is_named(tmp_path, monkeypatch):
    _path, [mailbox] = mailboxes_of(tmp_path, monkeypatch, "")
    assert (mailbox.contact, mailbox.create_contact) == ("Customer service", True)


def test_create_contact_false_holds_for_the_default_contact_too(tmp_path, monkeypatch):
    _path, [mailbox] = mailboxes_of(tmp_path, monkeypatch, "create_contact = false\n")
    assert mailbox.create_contact is False


def test_create_contact_that_is_not_a_boolean_is_refused(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"\[mailboxes.0\] create_contact"):
        mailboxes_of(tmp_path, monkeypatch, 'create_contact = "yes"\n')


def test_unknown_contact_is_one_line_naming_file_table_value_and_known_ones(tmp_path, monkeypatch):
    path, mailboxes = mailboxes_of(tmp_path, monkeypatch, 'contact = "Webmastr"\n')
    with pytest.raises(ConfigError) as caught:
        check_mailbox_contacts(path, mailboxes, {"Webmaster", "Customer service"})
    message = str(caught.value)
    assert message.startswith(
        f"{path}: [mailboxes.0] contact: no Contact named 'Webmastr' (known: Customer service, Webmaster); "
    )
    assert "create_contact = true" in message and "\n" not in message


def test_known_contact_passes(tmp_path, monkeypatch):
    path, mailboxes = mailboxes_of(tmp_path, monkeypatch, 'contact = "Webmaster"\n')
    assert check_mailbox_contacts(path, mailboxes, {"Webmaster"}) is None


def test_contact_names_match_exactly(tmp_path, monkeypatch):
    path, mailboxes = mailboxes_of(tmp_path, monkeypatch, 'contact = "webmaster"\n')
    with pytest.raises(ConfigError, match="no Contact named 'webmaster' \\(known: Webmaster\\)"):
        check_mailbox_contacts(path, mailboxes, {"Webmaster"})


def test_unknown_contact_with_create_contact_passes(tmp_path, monkeypatch):
    path, mailboxes = mailboxes_of(tmp_path, monkeypatch, 'contact = "Webmaster"\ncreate_contact = true\n')
    assert check_mailbox_contacts(path, mailboxes, set()) is None


def test_an_empty_database_is_named_as_such(tmp_path, monkeypatch):
    path, mailboxes = mailboxes_of(tmp_path, monkeypatch, 'contact = "Sales"\n')
    with pytest.raises(ConfigError, match=r"\(known: none yet\)"):
        check_mailbox_contacts(path, mailboxes, set())


def test_the_second_table_is_named_by_its_index(tmp_path, monkeypatch):
    second = (
        '[[mailboxes]]\nname = "sales"\nhost = "imap.shop.example"\nusername = "sales@shop.example"\n'
        'password_env = "MB_PW"\ncontact = "Sales"\n'
    )
    path, mailboxes = mailboxes_of(tmp_path, monkeypatch, second)
    with pytest.raises(ConfigError, match=r"\[mailboxes.1\] contact: no Contact named 'Sales'"):
        check_mailbox_contacts(path, mailboxes, {"Customer service"})
