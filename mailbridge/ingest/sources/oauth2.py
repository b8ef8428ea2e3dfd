"""I/O: fetch the OAuth2 access token of an IMAP mailbox and log in with it (XOAUTH2 or OAUTHBEARER).

The token comes from `oauth2_token_command` (its stdout) or `oauth2_token_file`, fetched anew at
every login and once more when the server rejects it. Called by `ImapSource.connect`. The token
is a secret: it appears in no message and no log line.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import imapclient
from imapclient.exceptions import LoginError

from mailbridge.base.config.mailbox import OAuth2Settings
from mailbridge.base.config.settings import MailboxSettings
from mailbridge.base.errors import SourceError

log = logging.getLogger(__name__)
STDERR_CHARS = 200  # of the helper's first stderr line, quoted in the error


def first_line(text: str) -> str:
    """Return the first non-blank line of text, cut to a readable length."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line[:STDERR_CHARS]


def token_from_output(mailbox: str, program: str, returncode: int, stdout: str, stderr: str) -> str:
    """Return the token a helper printed. Raises: SourceError on a non-zero exit or empty output."""
    reason = first_line(stderr)
    if returncode != 0:
        raise SourceError(
            f"mailbox {mailbox!r}: oauth2_token_command {program} failed with exit code "
            f"{returncode}" + (f": {reason}" if reason else "")
        )
    token = stdout.strip()
    if not token:
        raise SourceError(
            f"mailbox {mailbox!r}: oauth2_token_command {program} printed no token" + (f": {reason}" if reason else "")
        )
    return token


def run_token_command(mailbox: str, argv: tuple[str, ...], timeout_seconds: float) -> str:
    """Run the helper without a shell and return its token. Raises: SourceError."""
    # Only the program is ever named: its arguments may carry a client secret.
    program = Path(argv[0]).name
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_seconds, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SourceError(
            f"mailbox {mailbox!r}: oauth2_token_command {program} timed out after {timeout_seconds:g}s"
        ) from None
    except OSError as exc:
        raise SourceError(
            f"mailbox {mailbox!r}: cannot run oauth2_token_command {program} ({exc.strerror or exc})"
        ) from None
    return token_from_output(mailbox, program, done.returncode, done.stdout, done.stderr)


def read_token_file(mailbox: str, path: str) -> str:
    """Read the token file afresh. Raises: SourceError when it is unreadable or empty."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SourceError(f"mailbox {mailbox!r}: cannot read oauth2_token_file {path} ({exc.strerror})") from None
    if not token:
        raise SourceError(f"mailbox {mailbox!r}: oauth2_token_file {path} is empty")
    return token


def fetch_token(mailbox: str, oauth2: OAuth2Settings, timeout_seconds: float) -> str:
    """Return a current access token from the configured command or file. Raises: SourceError."""
    if oauth2.token_command:
        return run_token_command(mailbox, oauth2.token_command, timeout_seconds)
    return read_token_file(mailbox, oauth2.token_file)


def send_token(client: imapclient.IMAPClient, mechanism: str, username: str, token: str) -> None:
    """Authenticate with the token by SASL XOAUTH2 or OAUTHBEARER (RFC 7628)."""
    if mechanism == "oauthbearer":
        client.oauthbearer_login(username, token)
    else:
        client.oauth2_login(username, token, mech="XOAUTH2")


def login_with_token(client: imapclient.IMAPClient, mailbox: MailboxSettings, where: str) -> None:
    """Log in with a fresh token; when it is rejected, fetch it once more and retry once on the same connection.

    Raises: SourceError when the second token is rejected too, or a token cannot be fetched.
    """
    c = mailbox.connection
    try:
        send_token(client, c.oauth2.mechanism, c.username, fetch_token(mailbox.name, c.oauth2, c.timeout_seconds))
        return
    except LoginError:
        # An access token lives about an hour; the helper hands out a renewed one when asked again.
        log.info("OAuth2 token rejected, fetching it again mailbox=%s", mailbox.name)
    try:
        send_token(client, c.oauth2.mechanism, c.username, fetch_token(mailbox.name, c.oauth2, c.timeout_seconds))
    except LoginError as exc:
        raise SourceError(
            f"{where}: OAuth2 token rejected for {c.username!r} "
            f"({c.oauth2.mechanism.upper()}, fetched twice; {_server_text(exc)})"
        ) from None


def _server_text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith(("b'", 'b"')):
        text = text[2:-1]
    return text.strip() or type(exc).__name__
