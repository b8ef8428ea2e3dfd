"""`mailbridge init`: the answers of a new admin -> a commented mailbridge.toml: the example file, values set in place.

Pure apart from reading the shipped example (`mailbridge.example.toml` beside this module, package data read with
importlib.resources, so a wheel install has it too): `render_initial_config(answers)` returns the TOML text. A key
the example shows commented out (`# port = 993`) is uncommented where it stands and given its value; its comment
keeps its column. Secrets are never written: only the names of the variables or files that hold them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from importlib.resources import files
from typing import Any

import tomlkit

EXAMPLE = files("mailbridge.base.config") / "mailbridge.example.toml"
HEADER = "# Written by `mailbridge init` from mailbridge.example.toml. Every key is explained in docs/configuration.md."
DEFAULT_SECRET_FILE = "mailbridge.secret"  # beside mailbridge.toml; init fills it with a random secret
TomlValue = str | int | list[str] | None  # what `_set` writes into a table
MAILBOX = "[[mailboxes]]"  # the first one is the mailbox init writes


@dataclass(frozen=True)
class InitAnswers:
    support_address: str
    from_name: str
    database_url: str
    secret_env: str | None  # the reply-token secret from this variable ...
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
    admin_address: str | None = None
    secret_file: str | None = None  # ... or from this file (relative to mailbridge.toml), when secret_env is None
    smtp_auth: str | None = None  # "password" (None: the same) | "xoauth2" | "oauthbearer"; with smtp_username
    smtp_oauth2_token_command: str | None = None  # with xoauth2/oauthbearer: this command prints the token ...
    smtp_oauth2_token_file: str | None = None  # ... or this file holds it
    imap_auth: str | None = None  # the same three for the mailbox's login
    imap_oauth2_token_command: str | None = None
    imap_oauth2_token_file: str | None = None

    @property
    def smtp_password_login(self) -> bool:
        """SMTP AUTH with the password of smtp_password_env (not an OAuth2 token)."""
        return bool(self.smtp_username) and self.smtp_auth in (None, "password")

    @property
    def imap_password_login(self) -> bool:
        """The mailbox logs in with the password of imap_password_env (not an OAuth2 token)."""
        return self.imap_auth in (None, "password")

    @property
    def secret_variables(self) -> list[str]:
        """The environment variables the written file names; each must be set where mailbridge runs."""
        names = [
            self.imap_password_env if self.imap_password_login else None,
            self.smtp_password_env if self.smtp_password_login else None,
            self.secret_env,
        ]
        return [n for n in names if n]


def answers_as_flags(answers: InitAnswers) -> list[str]:
    """The `mailbridge init` options that give these answers again (empty ones left out)."""
    flags = []
    for field in fields(InitAnswers):
        value = getattr(answers, field.name)
        if value is not None and value != "":
            flags += [f"--{field.name.replace('_', '-')}", str(value)]
    if answers.secret_env is None and answers.secret_file is None:
        flags += ["--secret-env", ""]  # no reply-token secret at all
    return flags


def _edits(answers: InitAnswers) -> dict[str, dict[str, TomlValue]]:
    """The values init sets, per table of the example; None leaves the key commented out."""
    oauth2 = bool(answers.smtp_username) and not answers.smtp_password_login
    imap_oauth2 = not answers.imap_password_login
    return {
        "[database]": {"url": answers.database_url},
        "[support]": {
            "from_name": answers.from_name,
            "from_address": answers.support_address,
            "admin_address": answers.admin_address,
            "secret_env": answers.secret_env,
            "secret_file": answers.secret_file if answers.secret_env is None else None,
        },
        "[smtp]": {
            "host": answers.smtp_host,
            "security": answers.smtp_security,
            "port": answers.smtp_port,
            "ca_file": answers.smtp_ca_file,
            "username": answers.smtp_username,
            "password_env": answers.smtp_password_env if answers.smtp_password_login else None,
            "auth": answers.smtp_auth if oauth2 else "password",
            "oauth2_token_command": answers.smtp_oauth2_token_command if oauth2 else None,
            "oauth2_token_file": answers.smtp_oauth2_token_file if oauth2 else None,
        },
        MAILBOX: {
            "host": answers.imap_host,
            "security": answers.imap_security,
            "port": answers.imap_port,
            "ca_file": answers.imap_ca_file,
            "username": answers.imap_username,
            "password_env": None if imap_oauth2 else answers.imap_password_env,
            "auth": answers.imap_auth if imap_oauth2 else "password",
            "oauth2_token_command": answers.imap_oauth2_token_command if imap_oauth2 else None,
            "oauth2_token_file": answers.imap_oauth2_token_file if imap_oauth2 else None,
            "folders": [answers.imap_folder],
            "initial_sync": answers.initial_sync,
        },
    }


# Where a key stands in the example when it has no line of its own: on the line of its alternative, with this comment.
ALTERNATIVE_LINE = {
    ("[support]", "secret_file"): (
        "secret_env",
        '# signs reply tokens (support+<token>@...); or secret_env = "VARIABLE"',
    )
}
COMMENT_GAP = re.compile(r"(?<=\S)( {3,})(?=# )")  # the spaces before a line's comment, when there are 3 or more


def _table_lines(lines: list[str], header: str) -> range:
    """The line numbers of one table of the example: after its header, up to the next header."""
    start = lines.index(header + "\n") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    return range(start, end)


def _find(lines: list[str], where: range, key: str) -> tuple[int | None, bool]:
    """(line number, is_commented_out) of the key in the table, or (None, False)."""
    for i in where:
        if re.match(rf"(# )?{re.escape(key)} = ", lines[i]):
            return i, lines[i].startswith("# ")
    return None, False


def _rename(line: str, old: str, new: str) -> str:
    """Give a line another key, its comment kept in its column."""
    longer = len(new) - len(old)
    renamed = line.replace(f"{old} = ", f"{new} = ", 1)
    return COMMENT_GAP.sub(lambda gap: gap[1][longer:] or " ", renamed, count=1)


def _prepare_lines(lines: list[str], edits: dict[str, dict[str, TomlValue]]) -> list[str]:
    """Uncomment the example's line of each key that gets a value; comment out the line of each that gets none.

    The comment after the value keeps its column: the two characters of "# " go to, or come from, the gap before it.
    """
    lines = list(lines)
    for header, values in edits.items():
        where = _table_lines(lines, header)
        for key, value in values.items():
            index, commented = _find(lines, where, key)
            if index is None and value is not None and (header, key) in ALTERNATIVE_LINE:
                other, _comment = ALTERNATIVE_LINE[header, key]
                index, commented = _find(lines, where, other)
                if index is not None and values.get(other) is None:
                    lines[index] = _rename(lines[index], other, key)
                else:
                    index = None
            if index is None:
                continue  # a key without a line in the example is appended to its table by tomlkit
            if value is not None and commented:
                lines[index] = COMMENT_GAP.sub(lambda gap: gap[1] + "  ", lines[index][2:], count=1)
            elif value is None and not commented:
                lines[index] = "# " + COMMENT_GAP.sub(lambda gap: gap[1][2:], lines[index], count=1)
    return lines


def _set(table: Any, key: str, value: TomlValue) -> None:
    """Set a value where its line stands, keeping its comment in the column it had."""
    if value is None:
        return
    if key not in table:
        table[key] = value
        return
    old = table.item(key)
    column = len(key) + 3 + len(old.as_string()) + len(old.trivia.comment_ws)
    table[key] = value
    new = table.item(key)
    if new.trivia.comment:
        new.trivia.comment_ws = " " * max(1, column - len(key) - 3 - len(new.as_string()))


def render_initial_config(answers: InitAnswers) -> str:
    """Fill the example configuration with the answers in place: every line and comment of it stays, in its place."""
    edits = _edits(answers)
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = HEADER + "\n"  # the example's own first line says to copy and edit it
    document = tomlkit.parse("".join(_prepare_lines(lines, edits)))
    for header, values in edits.items():
        table = document["mailboxes"][0] if header == MAILBOX else document[header.strip("[]")]
        for key, value in values.items():
            _set(table, key, value)
            if value is not None and (header, key) in ALTERNATIVE_LINE and key in table:
                table.item(key).trivia.comment = ALTERNATIVE_LINE[header, key][1]
    return tomlkit.dumps(document)
