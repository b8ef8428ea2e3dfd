"""I/O: tell in under 2 s whether a mail port speaks TLS at once or plaintext, to explain a `security` that misfits it.

IMAP and SMTP servers greet first: a plaintext port sends `* OK` or `220` as soon as we connect, an implicit-TLS
port waits for our TLS hello. Called by the connection tests only (`mailboxes test`, `smtp test`, `init`): before a
plain or STARTTLS test, where a TLS port would make the test wait for its whole timeout, and after a failed SSL one.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Literal

BUDGET_SECONDS = 2.0  # the whole sniff: the greeting wait, then a TLS handshake
TLS_RECORD_TYPES = range(0x14, 0x18)  # change_cipher_spec, alert, handshake, application_data
Speech = Literal["tls", "plain"]


def classify_first_bytes(data: bytes) -> Speech | None:
    """What a server's first bytes show: a TLS record, a text greeting, or nothing sure (None)."""
    if not data:
        return None
    if data[0] in TLS_RECORD_TYPES:
        return "tls"
    return "plain" if data[:1].isascii() and chr(data[0]).isprintable() else None


def mismatch_hint(speech: Speech | None, security: str, port: int) -> str | None:
    """The hint when the port speaks otherwise than `security` expects, like "port 993 speaks TLS: use security = ssl"."""
    if speech == "tls" and security in ("plain", "starttls"):
        return f"port {port} speaks TLS: use security = ssl"
    if speech == "plain" and security == "ssl":
        return f"port {port} speaks plaintext, not TLS: use security = starttls (or plain)"
    return None


def port_speech(host: str, port: int, budget: float = BUDGET_SECONDS) -> Speech | None:
    """Connect and listen for the greeting; when none comes, try a TLS handshake. None: unreachable or unclear."""
    deadline = time.monotonic() + budget
    try:
        with socket.create_connection((host, port), timeout=budget / 2) as sock:
            sock.settimeout(max(0.05, deadline - time.monotonic() - budget / 2))
            first = sock.recv(64)
    except TimeoutError:
        first = None  # silence: the server may wait for a TLS hello
    except OSError:
        return None  # refused, unreachable, reset: the real test names it
    if first is not None:
        return classify_first_bytes(first)
    return "tls" if _handshake_succeeds(host, port, deadline - time.monotonic()) else None


def _handshake_succeeds(host: str, port: int, timeout: float) -> bool:
    # Only to recognise TLS: nothing is sent over this connection, so the certificate is not checked here (the
    # real test checks it).
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if timeout <= 0:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host):
                return True
    except (OSError, ValueError):
        return False


def security_hint(host: str, port: int, security: str, budget: float = BUDGET_SECONDS) -> str | None:
    """Sniff the port (within `budget` seconds) and return the hint when `security` does not fit it, else None."""
    return mismatch_hint(port_speech(host, port, budget), security, port)
