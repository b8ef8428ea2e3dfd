"""Edits of mailbridge.toml for `mailboxes add|remove` and `init`, keeping the admin's comments (tomlkit).

Every edit is checked with `load_settings` on a temporary file beside the original before it
replaces the file, so a bad edit never leaves a broken configuration behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from mailbridge.base.config.settings import Settings, load_settings
from mailbridge.base.errors import CommandError, ConfigError
from mailbridge.base.files import write_private


def read_document(path: Path) -> tomlkit.TOMLDocument:
    """Parse the file with its comments. Raises: ConfigError."""
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def write_checked(path: Path, document: tomlkit.TOMLDocument) -> Settings:
    """Write the document after `load_settings` accepted it; return the new settings. Raises: ConfigError."""
    candidate = path.with_name(f".{path.name}.new")
    write_private(candidate, tomlkit.dumps(document))
    try:
        settings = load_settings(candidate)
    except ConfigError as exc:
        candidate.unlink()
        raise ConfigError(str(exc).replace(str(candidate), str(path))) from None
    if path.exists():
        os.chmod(candidate, path.stat().st_mode & 0o777)
    os.replace(candidate, path)
    return settings


def add_mailbox(path: Path, values: dict[str, Any]) -> Settings:
    """Append one [[mailboxes]] table. Raises: CommandError when the name is taken, ConfigError when invalid."""
    document = read_document(path)
    tables = document.get("mailboxes")
    if tables is None:
        tables = tomlkit.aot()
        document.append("mailboxes", tables)
    if any(t.get("name") == values["name"] for t in tables):
        raise CommandError(f"a mailbox named {values['name']!r} exists already in {path}")
    table = tomlkit.table()
    for key, value in values.items():
        if value is not None:
            table[key] = value
    tables.append(table)
    return write_checked(path, document)


def remove_mailbox(path: Path, name: str) -> Settings:
    """Delete the [[mailboxes]] table with this name. Raises: NotFoundError-like CommandError."""
    document = read_document(path)
    tables = document.get("mailboxes") or []
    index = next((i for i, t in enumerate(tables) if t.get("name") == name), None)
    if index is None:
        raise CommandError(f"no mailbox named {name!r} in {path}")
    del tables[index]
    if not len(tables):
        del document["mailboxes"]
    return write_checked(path, document)
