"""The IMAP parts of a `[[mailboxes]]` table: connection options, folders, addresses, after_sync, read into settings;
and the check of its `contact` against the Contacts the database holds (`check_mailbox_contacts`, run by build_app).

`settings._mailbox` hands its `Section` reader (base/config/reader.py) in, so errors read like every other configuration
error: `file: [mailboxes.0] security: expected ..., got ...`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mailbridge.base.config.oauth2 import AUTH_KEYS, read_oauth2
from mailbridge.base.errors import ConfigError

AFTER_SYNC_MODES = ("seen", "keep", "delete")  # plus "move:FOLDER"
TLS_VERSIONS = ("1.2", "1.3")
IMAP_CONNECTION_KEYS = {
    "allow_insecure",
    "client_cert_file",
    "client_key_file",
    "tls_min_version",
    *AUTH_KEYS,
}
MAILBOX_KEYS = {
    "name",
    "folder",
    "folders",
    "contact",
    "create_contact",
    "initial_sync",
    "after_sync",
    "create_tickets_for_unknown",
    "unknown_folder",
    "idle_timeout_seconds",
    "alert_after_minutes",
    "max_message_bytes",
    "addresses",
}


def is_loopback(host: str) -> bool:
    """Return True for localhost and loopback addresses, where plaintext never leaves the machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_existing_file(section: Any, key: str) -> str | None:
    """Read a path key that must name an existing file; relative to the configuration file."""
    value = section.text(key)
    if value is None:
        return None
    resolved = section.relative_path(value)
    if not resolved.is_file():
        section.fail(key, "expected an existing PEM file", value)
    return str(resolved)


def read_imap_options(section: Any, connection: Any) -> Any:
    """Add the IMAP-only options to a parsed connection; plaintext only to loopback unless allowed."""
    allow_insecure = section.boolean("allow_insecure", False)
    if connection.security == "plain" and not allow_insecure and not is_loopback(connection.host):
        section.fail(
            "security",
            f'expected "ssl" or "starttls" for the non-loopback host {connection.host!r} (or allow_insecure = true)',
            "plain",
        )
    cert_file = read_existing_file(section, "client_cert_file")
    key_file = read_existing_file(section, "client_key_file")
    if key_file and not cert_file:
        section.fail("client_key_file", "expected client_cert_file to be set as well", key_file)
    return replace(
        connection,
        allow_insecure=allow_insecure,
        client_cert_file=cert_file,
        client_key_file=key_file,
        tls_min_version=section.choice("tls_min_version", TLS_VERSIONS, "1.2"),
        oauth2=read_oauth2(section, connection),
    )


def read_folders(section: Any) -> tuple[str, ...]:
    """Read `folders` (a list) or its single-folder alias `folder`; default INBOX."""
    if "folder" in section.table and "folders" in section.table:
        section.fail("folders", "expected either folder or folders, not both", section.table["folders"])
    if "folders" not in section.table:
        return (section.text("folder", "INBOX"),)
    value = section.table["folders"]
    if (
        not isinstance(value, list)
        or not value
        or len(set(map(str, value))) != len(value)
        or not all(isinstance(f, str) and f.strip() for f in value)
    ):
        section.fail("folders", 'expected a list of distinct folder names like ["INBOX", "Orders"]', value)
    return tuple(f.strip() for f in value)


def read_addresses(section: Any) -> tuple[str, ...]:
    """Read `addresses`: the addresses (aliases) delivered into this mailbox besides its login, lower-cased."""
    if "addresses" not in section.table:
        return ()
    value = section.table["addresses"]
    expected = 'expected a list of distinct email addresses like ["support@shop.example", "info@shop.example"]'
    if not isinstance(value, list) or not all(isinstance(a, str) and _is_address(a.strip()) for a in value):
        section.fail("addresses", expected, value)
    addresses = tuple(a.strip().lower() for a in value)
    if len(set(addresses)) != len(addresses):
        section.fail("addresses", expected, value)
    return addresses


def _is_address(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(at and local and domain and "@" not in domain and not any(c in value for c in " \t\r\n<>,;\"'()"))


def read_after_sync(section: Any) -> str:
    """Read `after_sync`: "seen" | "keep" | "delete" | "move:FOLDER"."""
    value = section.text("after_sync", "seen")
    if value not in AFTER_SYNC_MODES and not (value.startswith("move:") and value[5:].strip()):
        section.fail("after_sync", 'expected "seen" | "keep" | "delete" | "move:FOLDER"', value)
    return value


def read_bounded(section: Any, key: str, default: float, low: float, high: float) -> float:
    """Read a number that must lie in [low, high]."""
    value = section.number(key, default, low)
    if value > high:
        section.fail(key, f"expected a number {low:g}-{high:g}", value)
    return value


def read_create_contact(section: Any) -> bool:
    """Read `create_contact`; by default true only for the default Contact (no `contact` key), which no typo names."""
    return section.boolean("create_contact", "contact" not in section.table)


def check_mailbox_contacts(path: Path, mailboxes: Sequence[Any], known: Collection[str]) -> None:
    """Refuse a `contact` that names no known Contact, unless its table says `create_contact = true`.

    Names match exactly, as everywhere else a Contact is named (`--contact`, `contacts show`).
    Raises: ConfigError naming the file, the table, the value and the known Contacts.
    """
    for index, mailbox in enumerate(mailboxes):
        if mailbox.contact in known or mailbox.create_contact:
            continue
        names = ", ".join(sorted(known)) or "none yet"
        raise ConfigError(
            f"{path}: [mailboxes.{index}] contact: no Contact named {mailbox.contact!r} (known: {names}); "
            "fix the name, add it with `mailbridge contacts add`, or set create_contact = true to create it"
        )
