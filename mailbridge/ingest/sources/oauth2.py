"""I/O: log in to an IMAP mailbox with its OAuth2 access token (XOAUTH2 or OAUTHBEARER).

The token comes from `oauth2_token_command` or `oauth2_token_file` (`base.oauth2_token`, shared with the SMTP
login), fetched anew at every login and once more when the server rejects it. Called by `ImapSource.connect`. The
token is a secret: it appears in no message and no log line.
"""

from __future__ import annotations

import logging

import imapclient
from imapclient.exceptions import LoginError

from mailbridge.base import oauth2_token
from mailbridge.base.config.oauth2 import OAuth2Settings
from mailbridge.base.config.settings import MailboxSettings
from mailbridge.base.errors import SourceError

log = logging.getLogger(__name__)


def fetch_token(mailbox: str, oauth2: OAuth2Settings, timeout_seconds: float) -> str:
    """Return a current access token for the mailbox. Raises: SourceError naming the mailbox."""
    return oauth2_token.fetch_token(oauth2, timeout_seconds, owner=f"mailbox {mailbox!r}", error=SourceError)


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
