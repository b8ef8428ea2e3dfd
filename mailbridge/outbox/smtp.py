"""I/O: SmtpSender sends one outbox row with aiosmtplib and maps failures to our errors.

Certificates are verified unless the admin turns that off explicitly; `plain` is only for a
relay on the same machine.
"""

from __future__ import annotations

from typing import Protocol

import aiosmtplib

from mailbridge.base.config.settings import ConnectionSettings
from mailbridge.base.errors import PermanentDeliveryError, TemporaryDeliveryError
from mailbridge.base.tls import tls_context

REPLY_CHARS = 500  # what the outbox row's last_error keeps of a server's reply


class MailSender(Protocol):
    """Delivers raw bytes to recipients, or raises TemporaryDeliveryError / PermanentDeliveryError."""

    async def send(self, *, mail_from: str, recipients: list[str], raw: bytes) -> None: ...


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
        self.connection = connection

    async def send(self, *, mail_from: str, recipients: list[str], raw: bytes) -> None:
        c = self.connection
        context = tls_context(c) if c.security != "plain" else None
        try:
            await aiosmtplib.send(
                raw,
                sender=mail_from,
                recipients=recipients,
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password.value if c.password else None,
                use_tls=c.security == "ssl",
                start_tls=c.security == "starttls",
                tls_context=context,
                timeout=c.timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise classify_smtp_failure(exc) from exc


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
        if c.username:
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
