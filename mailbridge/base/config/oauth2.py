"""The `auth` key and its OAuth2 token keys, shared by `[[mailboxes]]` (IMAP) and `[smtp]`, read into `OAuth2Settings`.

`settings` hands the table's `Section` reader (base/config/reader.py) in, so an error names the file, the table and
the key like every other configuration error: `file: [smtp] oauth2_token_command: expected ..., got ...`.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from typing import Any

from mailbridge.base.errors import ConfigError

AUTH_MODES = ("password", "xoauth2", "oauthbearer")
OAUTH2_KEYS = ("oauth2_token_command", "oauth2_token_file")
AUTH_KEYS = {"auth", *OAUTH2_KEYS}


@dataclass(frozen=True)
class OAuth2Settings:
    """Where a connection gets its OAuth2 access token; the token itself is fetched at each login."""

    mechanism: str  # "xoauth2" | "oauthbearer"
    token_command: tuple[str, ...] | None = None  # argv, run without a shell; stdout is the token
    token_file: str | None = None  # re-read at every login


def read_oauth2(section: Any, connection: Any) -> OAuth2Settings | None:
    """Read `auth` and, for XOAUTH2/OAUTHBEARER, exactly one of oauth2_token_command / oauth2_token_file."""
    auth = section.choice("auth", AUTH_MODES, "password")
    given = [key for key in OAUTH2_KEYS if key in section.table]
    if auth == "password":
        if given:
            section.fail(given[0], 'expected auth = "xoauth2" or "oauthbearer" to go with it', section.table[given[0]])
        return None
    if len(given) != 1:
        detail = "not both" if given else "missing"
        raise ConfigError(
            f'{section.path}: [{section.name}] oauth2_token_command: auth = "{auth}" needs either '
            f"oauth2_token_command or oauth2_token_file, {detail}"
        )
    for key in ("password_env", "password_file"):
        if key in section.table:
            section.fail(
                key, f'expected no password with auth = "{auth}" (the OAuth2 token replaces it)', section.table[key]
            )
    if not connection.username:
        raise ConfigError(f'{section.path}: [{section.name}] username: missing; auth = "{auth}" logs in as username')
    if given[0] == "oauth2_token_file":
        return OAuth2Settings(auth, token_file=_token_file(section))
    return OAuth2Settings(auth, token_command=_token_command(section))


def _token_command(section: Any) -> tuple[str, ...]:
    value = section.text("oauth2_token_command")
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        section.fail("oauth2_token_command", f"expected a command line ({exc})", value)
    program = argv[0]
    if "/" in program:
        program = str(section.relative_path(program))
    if shutil.which(program) is None:
        section.fail("oauth2_token_command", f"expected an executable program, {argv[0]!r} is not one", value)
    return (program, *argv[1:])


def _token_file(section: Any) -> str:
    value = section.text("oauth2_token_file")
    resolved = section.relative_path(value)
    if not resolved.is_file():
        section.fail("oauth2_token_file", "expected an existing file holding the access token", value)
    return str(resolved)
