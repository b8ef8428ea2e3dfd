"""I/O: log in to the SMTP relay with an OAuth2 access token, by SASL XOAUTH2 or OAUTHBEARER (RFC 7628, RFC 4954).

The token comes from `oauth2_token_command` or `oauth2_token_file` (`base.oauth2_token`, shared with the IMAP login),
fetched at every login and once more when the server refuses it. Called by `outbox.smtp` on a connected client, for
the outbox and for `mailbridge smtp test`. The token is a secret: it appears in no message and no log line.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from dataclasses import dataclass

import aiosmtplib

from mailbridge.base import oauth2_token
from mailbridge.base.config.oauth2 import OAuth2Settings
from mailbridge.base.config.settings import ConnectionSettings
from mailbridge.base.errors import TemporaryDeliveryError

log = logging.getLogger(__name__)
AUTH_SUCCESSFUL, AUTH_CONTINUE = 235, 334
COMMAND_LINE_OCTETS = 512  # RFC 5321 §4.5.3.1.4, CRLF included
CHALLENGE_CHARS = 200  # of the server's decoded error challenge, quoted in the error


@dataclass(frozen=True)
class Refusal:
    """The server's final reply to a refused token, with the error challenge it sent before (decoded), if any."""

    code: int
    message: str
    challenge: str = ""

    def __str__(self) -> str:
        text = f"{self.code} {self.message}".strip()
        return " ".join((text + (f" ({self.challenge})" if self.challenge else "")).split())


def xoauth2_response(username: str, token: str) -> bytes:
    """Return the XOAUTH2 client response (Google's and Microsoft's SASL XOAUTH2), before base64."""
    return f"user={username}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer_response(username: str, token: str, host: str, port: int) -> bytes:
    """Return the OAUTHBEARER client response (RFC 7628 §3.1), before base64."""
    # RFC 5801 §5: "," and "=" in the authorization identity are written =2C and =3D.
    authzid = username.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01".encode()


def decode_challenge(message: str) -> str:
    """Return the server's base64 error challenge as text (a JSON status for both mechanisms), cut to a readable length."""
    try:
        text = base64.b64decode(message.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        text = message
    return " ".join(text.split())[:CHALLENGE_CHARS]


async def login_with_token(client: aiosmtplib.SMTP, connection: ConnectionSettings) -> None:
    """Log in with a fresh token; when it is refused, fetch it once more and retry once on the same connection.

    Raises: TemporaryDeliveryError when the server offers no such mechanism, a token cannot be fetched, or the second
    token is refused too (with the server's reply): a refused token is ours to fix, so the mail waits for it.
    """
    c = connection
    assert c.oauth2 is not None and c.username, "read_oauth2 requires a username"
    mechanism = c.oauth2.mechanism
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    if mechanism not in client.server_auth_methods:
        offered = " ".join(client.server_auth_methods).upper() or "none"
        raise TemporaryDeliveryError(f"the server offers no AUTH {mechanism.upper()} (AUTH offered: {offered})")
    refusal = await _authenticate(client, c, await _fetch(c.oauth2, c.timeout_seconds))
    if refusal is None:
        return
    # An access token lives about an hour; the helper hands out a renewed one when asked again.
    log.info("OAuth2 token refused by the SMTP server, fetching it again host=%s reply=%s", c.host, refusal.code)
    refusal = await _authenticate(client, c, await _fetch(c.oauth2, c.timeout_seconds))
    if refusal is not None:
        raise TemporaryDeliveryError(
            f"OAuth2 token refused for {c.username!r} ({mechanism.upper()}, fetched twice): {refusal}"
        )


async def _fetch(oauth2: OAuth2Settings, timeout_seconds: float) -> str:
    # The helper is a process of its own: run it in a thread so the other connections go on sending.
    return await asyncio.to_thread(
        oauth2_token.fetch_token, oauth2, timeout_seconds, owner="smtp", error=TemporaryDeliveryError
    )


async def _authenticate(client: aiosmtplib.SMTP, c: ConnectionSettings, token: str) -> Refusal | None:
    """Run one SASL exchange; return None when the token is accepted, else the server's refusal."""
    assert c.oauth2 is not None and c.username
    mechanism = c.oauth2.mechanism
    if mechanism == "oauthbearer":
        initial = oauthbearer_response(c.username, token, c.host, c.port)
    else:
        initial = xoauth2_response(c.username, token)
    name, encoded = mechanism.upper().encode(), base64.b64encode(initial)
    # RFC 4954 §4: an initial response that would make the command line too long is sent after an empty challenge.
    if len(b"AUTH " + name + b" " + encoded) + 2 <= COMMAND_LINE_OCTETS:
        reply = await client.execute_command(b"AUTH", name, encoded)
    else:
        reply = await client.execute_command(b"AUTH", name)
        if reply.code == AUTH_CONTINUE:
            reply = await client.execute_command(encoded)
    challenge = ""
    if reply.code == AUTH_CONTINUE:
        # A refused token comes back as a base64 JSON error challenge (RFC 7628 §3.2.2, Google's XOAUTH2); the client
        # answers it with a dummy response (%x01 for OAUTHBEARER, RFC 7628 §3.2.3; empty for XOAUTH2) to end it.
        challenge = decode_challenge(reply.message)
        reply = await client.execute_command(base64.b64encode(b"\x01") if mechanism == "oauthbearer" else b"")
    if reply.code == AUTH_SUCCESSFUL:
        return None
    return Refusal(reply.code, reply.message, challenge)
