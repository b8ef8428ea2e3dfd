"""I/O: SmtpSender opens SMTP connections (aiosmtplib) that send many outbox rows each, and maps failures to our errors.

A connection is opened at its first mail and kept for the next; after any failure it is closed, and the next mail
opens a new one. It logs in with the password or with an OAuth2 token (`smtp_oauth2`). Certificates are verified
unless the admin turns that off explicitly; `plain` is only for a relay on the same machine. Called by
`outbox.delivery`, one connection per delivery worker.
"""

from __future__ import annotations

from contextlib import suppress
from types import TracebackType
from typing import Protocol

import aiosmtplib

from mailbridge.base.config.settings import ConnectionSettings
from mailbridge.base.errors import PermanentDeliveryError, TemporaryDeliveryError
from mailbridge.base.tls import tls_context
from mailbridge.outbox.smtp_oauth2 import login_with_token

REPLY_CHARS = 500  # what the outbox row's last_error keeps of a server's reply


class MailConnection(Protocol):
    """One connection to the relay for many mails, used by one task at a time (`async with`: closed at the end).

    `send` delivers raw bytes to recipients, or raises TemporaryDeliveryError / PermanentDeliveryError; after a
    failure the next `send` starts on a new connection.
    """

    async def __aenter__(self) -> MailConnection: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def send(self, *, mail_from: str, recipients: list[str], raw: bytes) -> None: ...


class MailSender(Protocol):
    """Opens connections to the relay; each sends many mails, and several may be open at once."""

    def connection(self) -> MailConnection: ...


def classify_smtp_failure(exc: BaseException) -> Exception:
    """Turn an aiosmtplib or network failure into a temporary or permanent delivery error.

    The error keeps the server's whole reply, code and text (for each refused recipient), up to REPLY_CHARS.
    """
    code = getattr(exc, "code", None)
    text = f"{code} {getattr(exc, 'message', '')}".strip() if code else f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        code = min(r.code for r in exc.recipients)
        text = "; ".join(f"{r.code} {r.message} ({r.recipient})".strip() for r in exc.recipients)
    text = " ".join(text.split())[:REPLY_CHARS]
    # A refused login is our configuration, not the recipient: keep the mail and retry once it is fixed.
    if isinstance(code, int) and 500 <= code < 600 and not isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return PermanentDeliveryError(text)
    return TemporaryDeliveryError(text)


class SmtpSender:
    """Implements `MailSender` on aiosmtplib."""

    def __init__(self, connection: ConnectionSettings):
        self.settings = connection

    def connection(self) -> SmtpConnection:
        return SmtpConnection(self.settings)

    async def send(self, *, mail_from: str, recipients: list[str], raw: bytes) -> None:
        """Send one mail over a connection of its own."""
        async with self.connection() as connection:
            await connection.send(mail_from=mail_from, recipients=recipients, raw=raw)


class SmtpConnection:
    """Implements `MailConnection` on one aiosmtplib client, connected at the first mail."""

    def __init__(self, settings: ConnectionSettings):
        self.settings = settings
        self.client: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> SmtpConnection:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def send(self, *, mail_from: str, recipients: list[str], raw: bytes) -> None:
        try:
            client = await self._connected()
            await client.sendmail(mail_from, recipients, raw)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # The session may be anywhere in its conversation (or gone): the next mail starts on a new one.
            self._drop()
            raise classify_smtp_failure(exc) from exc

    async def close(self) -> None:
        """Say QUIT and close; a server that has gone meanwhile is no error."""
        if self.client is not None and self.client.is_connected:
            with suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await self.client.quit()
        self._drop()

    async def _connected(self) -> aiosmtplib.SMTP:
        # A server may close a connection it finds idle or too long; is_connected sees that before we write.
        if self.client is not None and self.client.is_connected:
            return self.client
        self._drop()
        c = self.settings
        client = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            # With OAuth2 the login is ours (login_with_token), after connect.
            username=c.username if c.oauth2 is None else None,
            password=c.password.value if c.password else None,
            use_tls=c.security == "ssl",
            start_tls=c.security == "starttls",
            tls_context=tls_context(c) if c.security != "plain" else None,
            timeout=c.timeout_seconds,
        )
        await client.connect()
        if c.oauth2 is not None:
            try:
                await login_with_token(client, c)
            except BaseException:
                client.close()
                raise
        self.client = client
        return client

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


async def probe(connection: ConnectionSettings, *, mail_from: str, recipient: str, raw: bytes | None, report) -> None:
    """Send one test mail step by step (raw None: stop after login), calling report(line) after each step.

    Raises: our delivery errors.
    """
    c = connection
    client = aiosmtplib.SMTP(
        hostname=c.host,
        port=c.port,
        use_tls=c.security == "ssl",
        start_tls=False,
        tls_context=tls_context(c) if c.security != "plain" else None,
        timeout=c.timeout_seconds,
    )
    try:
        await client.connect()
        report(f"connected to {c.host}:{c.port} ({c.security})")
        if c.security == "starttls":
            await client.starttls()
        if c.security != "plain":
            assert client.transport is not None, "connect() sets the transport"
            ssl_object = client.transport.get_extra_info("ssl_object")
            report(
                f"TLS {ssl_object.version()} {ssl_object.cipher()[0]}, certificate "
                f"{'verified' if c.validate_cert else 'NOT verified (validate_cert = false)'}"
            )
        if c.oauth2 is not None:
            await login_with_token(client, c)
            report(f"logged in as {c.username} with an OAuth2 token ({c.oauth2.mechanism.upper()})")
        elif c.username:
            await client.login(c.username, c.password.value if c.password else "")
            report(f"logged in as {c.username}")
        if raw is not None:
            await client.sendmail(mail_from, [recipient], raw)
            report(f"accepted for {recipient}")
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise classify_smtp_failure(exc) from exc
    finally:
        client.close()
