"""`mailbridge init`: the answers of a new admin -> a commented mailbridge.toml, based on the example file.

Pure apart from reading the shipped example (`mailbridge.example.toml` beside this module, package data read with
importlib.resources, so a wheel install has it too): `render_initial_config(answers)` returns the TOML text.
Secrets are never written: only the names of the environment variables that hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import tomlkit

EXAMPLE = files("mailbridge.base.config") / "mailbridge.example.toml"
TomlValue = str | int | list[str] | None  # what `_set` writes into a table


@dataclass(frozen=True)
class InitAnswers:
    support_address: str
    from_name: str
    database_url: str
    secret_env: str | None
    imap_host: str
    imap_port: int | None
    imap_security: str
    imap_username: str
    imap_password_env: str
    imap_ca_file: str | None
    imap_folder: str
    initial_sync: str
    smtp_host: str
    smtp_port: int | None
    smtp_security: str
    smtp_username: str | None
    smtp_password_env: str | None
    smtp_ca_file: str | None

    @property
    def secret_variables(self) -> list[str]:
        """The environment variables the written file names; each must be set where mailbridge runs."""
        names = [self.imap_password_env, self.smtp_password_env if self.smtp_username else None, self.secret_env]
        return [n for n in names if n]


def _set(table: Any, key: str, value: TomlValue) -> None:
    if value is None:
        if key in table:
            del table[key]
        return
    table[key] = value


def render_initial_config(answers: InitAnswers) -> str:
    """Fill the example configuration with the answers, keeping its comments."""
    document = tomlkit.parse(EXAMPLE.read_text(encoding="utf-8"))
    document["database"]["url"] = answers.database_url
    support = document["support"]
    support["from_address"] = answers.support_address
    support["from_name"] = answers.from_name
    _set(support, "secret_env", answers.secret_env)
    smtp = document["smtp"]
    value: TomlValue
    for key, value in (
        ("host", answers.smtp_host),
        ("security", answers.smtp_security),
        ("port", answers.smtp_port),
        ("ca_file", answers.smtp_ca_file),
        ("username", answers.smtp_username),
        ("password_env", answers.smtp_password_env if answers.smtp_username else None),
    ):
        _set(smtp, key, value)
    mailbox = document["mailboxes"][0]
    for key, value in (
        ("host", answers.imap_host),
        ("security", answers.imap_security),
        ("port", answers.imap_port),
        ("ca_file", answers.imap_ca_file),
        ("username", answers.imap_username),
        ("password_env", answers.imap_password_env),
        ("folders", [answers.imap_folder]),
        ("initial_sync", answers.initial_sync),
    ):
        _set(mailbox, key, value)
    header = "# Written by `mailbridge init`. Every key is explained in docs/configuration.md.\n"
    return header + tomlkit.dumps(document)
