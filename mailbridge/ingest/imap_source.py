"""I/O: ImapSource reads one folder of one mailbox with imapclient (blocking; callers use a thread).

SSL, STARTTLS or plain; certificates verified unless the admin turns that off. A TLS failure
raises SourceError naming host and mode and never falls back to plaintext.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from mailbridge.config import MailboxSettings
from mailbridge.errors import SourceError
from mailbridge.smtp_sender import tls_context

FETCH_BATCH = 50


@dataclass(frozen=True)
class RawMail:
    mailbox: str
    folder: str
    uidvalidity: int
    uid: int
    raw: bytes


@dataclass(frozen=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int


class ImapSource:
    """One logged-in connection to one mailbox; use as a context manager."""

    def __init__(self, settings: MailboxSettings):
        self.settings = settings
        self.client: imapclient.IMAPClient | None = None

    def __enter__(self) -> "ImapSource":
        self.connect()
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _where(self) -> str:
        c = self.settings.connection
        return f"mailbox {self.settings.name!r} ({c.host}:{c.port}, {c.security})"

    def connect(self) -> None:
        """Connect, secure and log in. Raises: SourceError with one clear line."""
        c = self.settings.connection
        context = tls_context(c) if c.security != "plain" else None
        try:
            client = imapclient.IMAPClient(c.host, port=c.port, ssl=c.security == "ssl",
                                           ssl_context=context, timeout=c.timeout_seconds)
            if c.security == "starttls":
                if b"STARTTLS" not in client.capabilities():
                    raise SourceError(f"{self._where()}: the server does not offer STARTTLS; refusing plaintext")
                client.starttls(context)
            client.login(c.username or "", c.password.value if c.password else "")
        except ssl.SSLCertVerificationError as exc:
            raise SourceError(f"{self._where()}: certificate not trusted ({exc.verify_message}); "
                              "set ca_file to the issuing CA") from None
        except ssl.SSLError as exc:
            raise SourceError(f"{self._where()}: TLS failed ({exc.reason or exc})") from None
        except LoginError as exc:
            raise SourceError(f"{self._where()}: login refused for {c.username!r} ({_text(exc)})") from None
        except (socket.timeout, TimeoutError):
            raise SourceError(f"{self._where()}: timed out after {c.timeout_seconds:g}s") from None
        except (OSError, IMAPClientError) as exc:
            raise SourceError(f"{self._where()}: cannot connect ({_text(exc)})") from None
        self.client = client

    def select(self, folder: str) -> FolderStatus:
        """Open a folder read-write and return its UIDVALIDITY and UIDNEXT."""
        try:
            info = self.client.select_folder(folder)
        except IMAPClientError as exc:
            raise SourceError(f"{self._where()}: cannot open folder {folder!r} ({_text(exc)})") from None
        uidnext = info.get(b"UIDNEXT")
        if uidnext is None:
            uidnext = max(self.client.search("ALL") or [0]) + 1
        return FolderStatus(uidvalidity=int(info[b"UIDVALIDITY"]), uidnext=int(uidnext))

    def new_uids(self, after_uid: int) -> list[int]:
        """Return the UIDs above `after_uid`, ascending."""
        # "UID n:*" always matches the highest UID, even when it is below n (RFC 3501 §6.4.8).
        found = self.client.search(["UID", f"{after_uid + 1}:*"])
        return sorted(uid for uid in found if uid > after_uid)

    def fetch(self, folder: str, status: FolderStatus, uids: list[int]) -> list[RawMail]:
        """Fetch raw bytes with BODY.PEEK[] so nothing is marked seen before it is stored."""
        response = self.client.fetch(uids, ["BODY.PEEK[]"])
        return [
            RawMail(self.settings.name, folder, status.uidvalidity, uid, response[uid][b"BODY[]"])
            for uid in uids if uid in response and b"BODY[]" in response[uid]
        ]

    def mark_processed(self, uids: list[int]) -> None:
        """Flag stored messages \\Seen; called only after their commit."""
        if uids:
            self.client.add_flags(uids, [imapclient.SEEN], silent=True)

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except (OSError, IMAPClientError):
                pass
            self.client = None


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text.strip() or type(exc).__name__
