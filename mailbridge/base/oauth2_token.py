"""I/O: fetch an OAuth2 access token from `oauth2_token_command` (its stdout) or `oauth2_token_file`.

Shared by the IMAP login (`ingest.sources.oauth2`) and the SMTP login (`outbox.smtp`), which fetch a token at every
login and once more when the server rejects it. Each names who asked (`owner`) and the error it raises. The token is
a secret: it appears in no message and no log line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from mailbridge.base.config.oauth2 import OAuth2Settings
from mailbridge.base.errors import MailbridgeError

STDERR_CHARS = 200  # of the helper's first stderr line, quoted in the error


def first_line(text: str) -> str:
    """Return the first non-blank line of text, cut to a readable length."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line[:STDERR_CHARS]


def token_from_output(
    program: str, returncode: int, stdout: str, stderr: str, *, owner: str, error: type[MailbridgeError]
) -> str:
    """Return the token a helper printed. Raises: `error` on a non-zero exit or empty output."""
    reason = first_line(stderr)
    if returncode != 0:
        raise error(
            f"{owner}: oauth2_token_command {program} failed with exit code {returncode}"
            + (f": {reason}" if reason else "")
        )
    token = stdout.strip()
    if not token:
        raise error(f"{owner}: oauth2_token_command {program} printed no token" + (f": {reason}" if reason else ""))
    return token


def run_token_command(
    argv: tuple[str, ...], timeout_seconds: float, *, owner: str, error: type[MailbridgeError]
) -> str:
    """Run the helper without a shell and return its token. Raises: `error`."""
    # Only the program is ever named: its arguments may carry a client secret.
    program = Path(argv[0]).name
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_seconds, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise error(f"{owner}: oauth2_token_command {program} timed out after {timeout_seconds:g}s") from None
    except OSError as exc:
        raise error(f"{owner}: cannot run oauth2_token_command {program} ({exc.strerror or exc})") from None
    return token_from_output(program, done.returncode, done.stdout, done.stderr, owner=owner, error=error)


def read_token_file(path: str, *, owner: str, error: type[MailbridgeError]) -> str:
    """Read the token file afresh. Raises: `error` when it is unreadable or empty."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise error(f"{owner}: cannot read oauth2_token_file {path} ({exc.strerror})") from None
    if not token:
        raise error(f"{owner}: oauth2_token_file {path} is empty")
    return token


def fetch_token(oauth2: OAuth2Settings, timeout_seconds: float, *, owner: str, error: type[MailbridgeError]) -> str:
    """Return a current access token from the configured command or file.

    Raises: `error` (SourceError for a mailbox, TemporaryDeliveryError for SMTP), its text starting with `owner`.
    """
    if oauth2.token_command:
        return run_token_command(oauth2.token_command, timeout_seconds, owner=owner, error=error)
    assert oauth2.token_file is not None, "read_oauth2 sets a command or a file"
    return read_token_file(oauth2.token_file, owner=owner, error=error)
