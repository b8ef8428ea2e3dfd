"""An SMTP sink on 127.0.0.1 (aiosmtpd Controller) for the outbox tests and the demo script.

`start_smtp_sink()` records every accepted envelope in `SmtpSink.messages` and counts the connections
made to it (`SmtpSink.connections`). Tests can make the next MAIL, RCPT or DATA fail once (`fail_next`), every
one until told otherwise (`refuse`, `stop_refusing`), every RCPT of one address (`refuse_recipient`),
refuse chosen mails at DATA by a function of the mail (`screen`: a deferral by Message-ID, for the outbox
benchmark), drop the next connection, require AUTH or offer STARTTLS. With `oauth2=<OAuth2Server>` it requires AUTH XOAUTH2 or
OAUTHBEARER and checks the token with that server, refusing a bad one as Gmail and RFC 7628 do. With `deliver_to=<DovecotServer>` each
accepted message is also appended to every recipient's INBOX there (users are created on first use),
so a demo can read receipts over IMAP.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email
import email.policy
import json
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

from .util import HOST, free_port

if TYPE_CHECKING:
    from .certs import Certs
    from .dovecot import DovecotServer
    from .oauth2_server import OAuth2Server

COMMANDS = ("MAIL", "RCPT", "DATA")


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """Parse data with the modern email policy."""
        return email.message_from_bytes(self.data, policy=email.policy.default)


class _Handler:
    """aiosmtpd handler: records envelopes, injects one-shot failures, optionally delivers."""

    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        """Drop the connection, fail once, or accept the sender."""
        if self.sink._take_drop():
            server.transport.abort()  # no reply at all, like a crashed relay
            return "421 connection dropped"
        failure = self.sink._take_failure("MAIL")
        if failure:
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        """Fail once or accept the recipient."""
        failure = self.sink._take_failure("RCPT") or self.sink._recipient_refusal(address)
        if failure:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        """Fail once, refuse what `screen` refuses, or deliver (if asked) and record the message."""
        failure = self.sink._take_failure("DATA")
        if failure:
            return failure
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        mail = ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(data))
        if failure := self.sink._screen_reply(mail):
            return failure
        if self.sink.deliver_to is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.sink._deliver, mail)
            except Exception as exc:  # tell the client instead of a bare 500
                return f"451 4.3.0 IMAP delivery failed: {exc}"
        with self.sink._lock:
            self.sink.messages.append(mail)
        return "250 Message accepted"


class SmtpSink:
    """A running sink: host, port, received messages and failure knobs."""

    def __init__(self, deliver_to: DovecotServer | None = None):
        self.host = HOST
        self.port = 0
        self.messages: list[ReceivedMail] = []
        self.connections = 0  # connections accepted since the start or the last clear()
        self.logins: list[tuple[str, str]] = []  # (mechanism, user) of each accepted OAuth2 login
        self.deliver_to = deliver_to
        self._lock = threading.Lock()
        self._failures: dict[str, str] = {}
        self._refusals: dict[str, str] = {}  # command -> reply, until stop_refusing()
        self._refused_recipients: dict[str, str] = {}  # lower-cased address -> reply to its RCPT
        self.refused = 0  # replies given by refuse() and refuse_recipient() since the start or the last clear()
        # Asked about every mail at DATA: a reply such as "451 4.3.0 Try again later" refuses that mail, None accepts it.
        self.screen: Callable[[ReceivedMail], str | None] | None = None
        self.screened = 0  # mails the screen refused since the start or the last clear()
        self._drop_next = False
        self._controller: Controller | None = None

    def clear(self) -> None:
        """Forget received messages and pending failures."""
        with self._lock:
            self.messages.clear()
            self.connections = 0
            self.logins.clear()
            self._failures.clear()
            self._refusals.clear()
            self._refused_recipients.clear()
            self.refused = 0
            self.screen = None
            self.screened = 0
            self._drop_next = False

    def fail_next(self, command: str, code: int, text: str = "Injected failure") -> None:
        """Answer the next MAIL, RCPT or DATA with `code text`, once."""
        command = command.upper()
        if command not in COMMANDS:
            raise ValueError(f"command must be one of {COMMANDS}, not {command!r}")
        with self._lock:
            self._failures[command] = f"{code} {text}"

    def refuse(self, command: str, code: int, text: str = "Injected refusal") -> None:
        """Answer every MAIL, RCPT or DATA with `code text` until `stop_refusing()` (a relay down for a while)."""
        command = command.upper()
        if command not in COMMANDS:
            raise ValueError(f"command must be one of {COMMANDS}, not {command!r}")
        with self._lock:
            self._refusals[command] = f"{code} {text}"

    def stop_refusing(self) -> None:
        """End every `refuse()` (recipients refused by `refuse_recipient()` stay refused)."""
        with self._lock:
            self._refusals.clear()

    def refuse_recipient(self, address: str, code: int, text: str = "Recipient refused") -> None:
        """Answer every RCPT TO this address with `code text` (until `clear()`)."""
        with self._lock:
            self._refused_recipients[address.lower()] = f"{code} {text}"

    def drop_next_connection(self) -> None:
        """Close the connection without a reply at the next MAIL, once."""
        with self._lock:
            self._drop_next = True

    def wait_for(self, count: int, timeout: float = 5) -> list[ReceivedMail]:
        """Wait until at least count messages arrived and return them; raise TimeoutError if not."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"smtp sink got {len(self.messages)} of {count} messages in {timeout}s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the Controller thread."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def _take_failure(self, command: str) -> str | None:
        """Pop the pending reply for command, if any; else the standing refusal of it."""
        with self._lock:
            failure = self._failures.pop(command, None)
            if failure is None and (failure := self._refusals.get(command)) is not None:
                self.refused += 1
            return failure

    def _recipient_refusal(self, address: str) -> str | None:
        """The standing refusal of this recipient, if any."""
        with self._lock:
            failure = self._refused_recipients.get(address.lower())
            self.refused += failure is not None
            return failure

    def _screen_reply(self, mail: ReceivedMail) -> str | None:
        """The screen's reply to this mail, if it refuses it (counted)."""
        screen = self.screen
        reply = screen(mail) if screen is not None else None
        if reply is not None:
            with self._lock:
                self.screened += 1
        return reply

    def _take_drop(self) -> bool:
        """Return and reset the drop-next-connection flag."""
        with self._lock:
            drop, self._drop_next = self._drop_next, False
            return drop

    def _deliver(self, mail: ReceivedMail) -> None:
        """IMAP APPEND mail to each recipient's INBOX, creating the user first."""
        for rcpt in mail.rcpt_tos:
            user = rcpt.lower()
            self.deliver_to.add_user(user)
            self.deliver_to.append(user, "INBOX", mail.data)


class _OAuth2Handler(_Handler):
    """Also checks AUTH XOAUTH2 / OAUTHBEARER tokens with an OAuth2Server (as Dovecot does for IMAP)."""

    def __init__(self, sink: SmtpSink, oauth2: OAuth2Server):
        super().__init__(sink)
        self.oauth2 = oauth2

    async def auth_XOAUTH2(self, server, args):
        return await self._check_token(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server, args):
        return await self._check_token(server, args, "OAUTHBEARER")

    async def _check_token(self, server, args, mechanism: str) -> AuthResult:
        """Accept a token the OAuth2Server knows for the user; else the JSON error challenge, the dummy answer, 535."""
        if len(args) == 1:  # RFC 4954: no initial response, ask for it with an empty challenge
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False, message="501 5.5.2 Can't decode base64")
        user, token = _xoauth2_fields(blob) if mechanism == "XOAUTH2" else _oauthbearer_fields(blob)
        answer = self.oauth2.introspect(token) if user and token else {"active": False}
        if answer["active"] and answer["username"] == user:
            with self.sink._lock:
                self.sink.logins.append((mechanism, user))
            return AuthResult(success=True, auth_data=user)
        # RFC 7628 §3.2.2 (and Gmail's XOAUTH2): the error comes as a challenge the client must end with a dummy reply.
        status = {"status": "invalid_token", "schemes": "bearer", "scope": "https://outlook.office.com/SMTP.Send"}
        dummy = await server.challenge_auth(json.dumps(status))
        if dummy is MISSING:
            return AuthResult(success=False, handled=True)
        if dummy != (b"\x01" if mechanism == "OAUTHBEARER" else b""):
            return AuthResult(success=False, handled=False, message=f"501 5.5.2 Wrong dummy response for {mechanism}")
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and Password not accepted (token refused)"
        )


def _xoauth2_fields(blob: bytes) -> tuple[str | None, str | None]:
    """`user=U^Aauth=Bearer T^A^A` -> (U, T); (None, None) when malformed."""
    parts = blob.decode("utf-8", "replace").split("\x01")
    if len(parts) != 4 or parts[2:] != ["", ""] or not parts[0].startswith("user="):
        return None, None
    if not parts[1].startswith("auth=Bearer "):
        return None, None
    return parts[0].removeprefix("user="), parts[1].removeprefix("auth=Bearer ")


def _oauthbearer_fields(blob: bytes) -> tuple[str | None, str | None]:
    """`n,a=U,^Ahost=H^Aport=P^Aauth=Bearer T^A^A` (RFC 7628 §3.1) -> (U, T); (None, None) when malformed."""
    header, _, rest = blob.decode("utf-8", "replace").partition("\x01")
    if not (header.startswith("n,a=") and header.endswith(",") and rest.endswith("\x01\x01")):
        return None, None
    user = header[4:-1].replace("=2C", ",").replace("=3D", "=")
    pairs = dict(kv.split("=", 1) for kv in rest[:-2].split("\x01") if "=" in kv)
    token = pairs.get("auth", "").removeprefix("Bearer ")
    return user, token if pairs.get("auth", "").startswith("Bearer ") else None


class _OAuth2Smtp(SMTP):
    """aiosmtpd's SMTP reading SASL responses as long as an access token (Microsoft's run past 2,000 characters)."""

    # RFC 4954 §4: a server takes challenges and responses as long as its mechanisms make them.
    line_length_limit = 12288


class _QuietController(Controller):
    """Controller that hides aiosmtpd's per-connection warning about AUTH without TLS on loopback."""

    def factory(self):
        """Build the SMTP protocol (one per connection: counted) with the warning filtered."""
        self.handler.sink._count_connection()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            if isinstance(self.handler, _OAuth2Handler):
                return _OAuth2Smtp(self.handler, **self.SMTP_kwargs)
            return super().factory()


def _authenticator(username: str, password: str):
    """Return an aiosmtpd authenticator accepting exactly username/password."""

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == username
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


def start_smtp_sink(
    deliver_to: DovecotServer | None = None,
    tls: Certs | None = None,
    require_auth: tuple[str, str] | None = None,
    port: int | None = None,
    oauth2: OAuth2Server | None = None,
) -> SmtpSink:
    """Start a sink on a free (or the given) 127.0.0.1 port (STARTTLS if tls, AUTH required if require_auth;
    AUTH XOAUTH2 / OAUTHBEARER required, with tokens checked by oauth2, if oauth2)."""
    sink = SmtpSink(deliver_to)
    options: dict = {}
    handler = _Handler(sink) if oauth2 is None else _OAuth2Handler(sink, oauth2)
    if oauth2 is not None:
        options.update(auth_required=True, auth_require_tls=False)
    if tls is not None:
        options["tls_context"] = tls.server_context()
    if require_auth is not None:
        options.update(authenticator=_authenticator(*require_auth), auth_required=True, auth_require_tls=False)
    sink.port = port or free_port()
    controller = _QuietController(handler, hostname=HOST, port=sink.port, ready_timeout=5, **options)
    controller.start()
    sink._controller = controller
    sink.connections = 0  # start() made one connection of its own, to see the server answer
    return sink
