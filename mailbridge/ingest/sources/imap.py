"""I/O: ImapSource reads one folder of one mailbox with imapclient (blocking; callers use a thread).

SSL, STARTTLS or plain; certificates verified unless the admin turns that off, TLS 1.2 or newer,
an optional client certificate. A TLS failure raises SourceError naming host and mode and never
falls back to plaintext. `mark_processed` carries out the after-sync step once intake has committed.
A connection that breaks during any command raises SourceError naming the host and the command.
Mail another client expunged meanwhile is skipped: a UID missing from FETCH (or with a NIL body) is
left out, and a refused flag or move of committed mail is logged and done again at the next poll.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from mailbridge.base.config.settings import ConnectionSettings, MailboxSettings
from mailbridge.base.errors import SourceError
from mailbridge.base.tls import tls_context
from mailbridge.ingest.after_sync import ServerAction, ServerStep, step_for_after_sync
from mailbridge.ingest.sources.oauth2 import login_with_token

FETCH_BATCH = 50
FETCH_BYTES = 8 * 1024 * 1024  # at most this much mail per round trip; a bigger message comes alone
SIZE_CHUNK = 2000  # UIDs per RFC822.SIZE fetch
HEADER_BYTES = 256 * 1024  # at most this much of the header of a message too large to download
TLS_MINIMUM = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawMail:
    mailbox: str
    folder: str
    uidvalidity: int
    uid: int
    raw: bytes
    # The message's RFC822.SIZE when `raw` is only its header: it is over max_message_bytes and was not downloaded.
    server_size: int | None = None


@dataclass(frozen=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int


def imap_tls_context(connection: ConnectionSettings) -> ssl.SSLContext:
    """Build the IMAP TLS context: verified as configured, a minimum version, an optional client certificate."""
    context = tls_context(connection)
    context.minimum_version = TLS_MINIMUM[connection.tls_min_version]
    if connection.client_cert_file:
        context.load_cert_chain(connection.client_cert_file, connection.client_key_file)
    return context


class ImapSource:
    """One logged-in connection to one mailbox; use as a context manager."""

    def __init__(self, settings: MailboxSettings):
        self.settings = settings
        self.client: imapclient.IMAPClient | None = None
        self._known_folders: set[str] = set()

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
        try:
            context = imap_tls_context(c) if c.security != "plain" else None
            client = imapclient.IMAPClient(
                c.host, port=c.port, ssl=c.security == "ssl", ssl_context=context, timeout=c.timeout_seconds
            )
            if c.security == "starttls":
                if b"STARTTLS" not in client.capabilities():
                    raise SourceError(f"{self._where()}: the server does not offer STARTTLS; refusing plaintext")
                client.starttls(context)
            self._login(client)
        except ssl.SSLCertVerificationError as exc:
            raise SourceError(
                f"{self._where()}: certificate not trusted ({exc.verify_message}); set ca_file to the issuing CA"
            ) from None
        except ssl.SSLError as exc:
            raise SourceError(f"{self._where()}: TLS failed ({exc.reason or exc})") from None
        except LoginError as exc:
            raise SourceError(f"{self._where()}: login refused for {c.username!r} ({_text(exc)})") from None
        except ConnectionRefusedError:
            raise SourceError(f"{self._where()}: connection refused (nothing listens on port {c.port})") from None
        except TimeoutError:
            raise SourceError(f"{self._where()}: timed out after {c.timeout_seconds:g}s") from None
        except (OSError, IMAPClientError) as exc:
            raise SourceError(f"{self._where()}: cannot connect ({_text(exc)})") from None
        self.client = client

    def _login(self, client: imapclient.IMAPClient) -> None:
        """Log in with the password, or with an OAuth2 token (fetched again once when rejected)."""
        c = self.settings.connection
        if c.oauth2 is None:
            client.login(c.username or "", c.password.value if c.password else "")
        else:
            login_with_token(client, self.settings, self._where())

    @contextmanager
    def _command(self, what: str) -> Iterator[None]:
        """Turn a refused command or a broken connection into a SourceError naming the host and the command."""
        try:
            yield
        except (IMAPClientError, OSError) as exc:
            raise SourceError(f"{self._where()}: {what} failed ({_text(exc)})") from None

    def select(self, folder: str, *, readonly: bool = False) -> FolderStatus:
        """Open a folder (read-write unless told otherwise) and return its UIDVALIDITY and UIDNEXT."""
        try:
            info = self.client.select_folder(folder, readonly=readonly)
        except (IMAPClientError, OSError) as exc:
            raise SourceError(f"{self._where()}: cannot open folder {folder!r} ({_text(exc)})") from None
        uidnext = info.get(b"UIDNEXT")
        if uidnext is None:
            with self._command(f"SEARCH ALL in {folder!r}"):
                uidnext = max(self.client.search("ALL") or [0]) + 1
        return FolderStatus(uidvalidity=int(info[b"UIDVALIDITY"]), uidnext=int(uidnext))

    def new_uids(self, after_uid: int) -> list[int]:
        """Return the UIDs above `after_uid`, ascending."""
        # "UID n:*" always matches the highest UID, even when it is below n (RFC 3501 §6.4.8).
        with self._command("UID SEARCH"):
            found = self.client.search(["UID", f"{after_uid + 1}:*"])
        return sorted(uid for uid in found if uid > after_uid)

    def flags_by_uid(self) -> dict[int, frozenset[str]]:
        """Return every UID of the selected folder with its flags, lower-cased (`\\seen`): what the audit compares."""
        with self._command("UID SEARCH ALL"):
            uids = sorted(self.client.search("ALL"))
        flags: dict[int, frozenset[str]] = {}
        for start in range(0, len(uids), SIZE_CHUNK):
            with self._command("UID FETCH FLAGS"):
                response = self.client.fetch(uids[start : start + SIZE_CHUNK], ["FLAGS"])
            for uid, data in response.items():
                flags[uid] = frozenset(_flag_text(flag).lower() for flag in data.get(b"FLAGS", ()))
        return flags

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """Return the RFC822.SIZE of each UID (ascending), so batches can be planned by bytes."""
        sizes: dict[int, int] = {}
        # Chunks keep each command line far below the server's limit (Dovecot: 64 KB) for any mailbox size.
        for start in range(0, len(uids), SIZE_CHUNK):
            with self._command("UID FETCH RFC822.SIZE"):
                response = self.client.fetch(uids[start : start + SIZE_CHUNK], ["RFC822.SIZE"])
            sizes.update((uid, int(data.get(b"RFC822.SIZE", 0))) for uid, data in response.items())
        return sizes

    def fetch(self, folder: str, status: FolderStatus, uids: list[int]) -> list[RawMail]:
        """Fetch raw bytes with BODY.PEEK[] so nothing is marked seen before it is stored.

        A UID missing from the answer or with a NIL body was expunged by another client since the
        SEARCH: it is logged and left out, and the caller counts it as vanished.
        """
        with self._command("UID FETCH BODY.PEEK[]"):
            response = self.client.fetch(uids, ["BODY.PEEK[]"])
        found = []
        for uid in uids:
            raw = response.get(uid, {}).get(b"BODY[]")
            if raw is None:
                log.warning(
                    "message vanished before fetch mailbox=%s folder=%s uid=%s", self.settings.name, folder, uid
                )
                continue
            found.append(RawMail(self.settings.name, folder, status.uidvalidity, uid, raw))
        return found

    def fetch_headers(self, folder: str, status: FolderStatus, sizes: dict[int, int]) -> list[RawMail]:
        """Fetch only the header of messages too large to download (`sizes`: their RFC822.SIZE by UID).

        BODY.PEEK[HEADER] with a partial range, so even a hostile header costs at most HEADER_BYTES; each RawMail
        carries its server size. Those gone meanwhile are left out, as in `fetch`.
        """
        uids = sorted(sizes)
        with self._command("UID FETCH BODY.PEEK[HEADER]"):
            response = self.client.fetch(uids, [f"BODY.PEEK[HEADER]<0.{HEADER_BYTES}>"])
        found = []
        for uid in uids:
            # The answer names the part with its origin: BODY[HEADER]<0>.
            data = response.get(uid, {})
            header = next((value for key, value in data.items() if key.startswith(b"BODY[HEADER]")), None)
            if header is None:
                log.warning(
                    "message vanished before fetch mailbox=%s folder=%s uid=%s", self.settings.name, folder, uid
                )
                continue
            found.append(RawMail(self.settings.name, folder, status.uidvalidity, uid, header, server_size=sizes[uid]))
        return found

    def has_capability(self, name: str) -> bool:
        """Return True when the server announces the capability (IDLE, MOVE, UIDPLUS ...)."""
        with self._command("CAPABILITY"):
            return self.client.has_capability(name)

    def mark_processed(self, uids: list[int], step: ServerStep | None = None) -> bool:
        """Carry out the after-sync step (default: the mailbox's after_sync) on committed messages.

        Returns False when the server refused it (NO or BAD, such as `NO [EXPUNGEISSUED]` when another
        client expunged one of them): that is logged, and the next poll finds them stored and marks them
        again. Raises: SourceError when the connection breaks.
        """
        step = step or step_for_after_sync(self.settings.after_sync)
        if not uids or step.action in (ServerAction.KEEP, ServerAction.LEAVE):
            return True
        try:
            if step.action is ServerAction.SEEN:
                self.client.add_flags(uids, [imapclient.SEEN], silent=True)
            elif step.action is ServerAction.DELETE:
                self.client.add_flags(uids, [imapclient.DELETED], silent=True)
                self._expunge(uids)
            elif self.has_capability("MOVE"):
                self._ensure_folder(step.folder)
                self.client.move(uids, step.folder)
            else:
                self.move_by_copy(uids, step.folder)
        except (IMAPClientAbortError, OSError) as exc:
            raise SourceError(f"{self._where()}: cannot {step.action} messages ({_text(exc)})") from None
        except IMAPClientError as exc:
            log.warning(
                "server refused to %s messages mailbox=%s uids=%s error=%s; they are marked at the next poll",
                step.action,
                self.settings.name,
                ",".join(map(str, uids)),
                _text(exc),
            )
            return False
        return True

    def existing_uids(self, uids: list[int]) -> list[int]:
        """Of these UIDs of the selected folder, the ones the server still holds."""
        found: list[int] = []
        for start in range(0, len(uids), SIZE_CHUNK):
            chunk = ",".join(str(uid) for uid in uids[start : start + SIZE_CHUNK])
            with self._command("UID SEARCH"):
                found.extend(self.client.search(["UID", chunk]))
        return sorted(set(found))

    def uids_with_message_id(self, message_id: str) -> list[int]:
        """The UIDs of the selected folder's messages with this Message-ID (mail moved here, with new UIDs)."""
        with self._command("SEARCH HEADER Message-ID"):
            return sorted(self.client.search(["HEADER", "Message-ID", message_id]))

    def folder_exists(self, folder: str) -> bool:
        with self._command(f"LIST {folder!r}"):
            return bool(self.client.folder_exists(folder))

    def delete_uids(self, uids: list[int]) -> None:
        """Remove these messages of the selected folder for good: \\Deleted, then UID EXPUNGE (`customers erase`)."""
        if uids:
            with self._command("STORE \\Deleted and EXPUNGE"):
                self.client.add_flags(uids, [imapclient.DELETED], silent=True)
                self._expunge(uids)

    def move_by_copy(self, uids: list[int], folder: str) -> None:
        """Move without the MOVE extension: COPY, then \\Deleted and UID EXPUNGE (RFC 6851 §3.3)."""
        self._ensure_folder(folder)
        self.client.copy(uids, folder)
        self.client.add_flags(uids, [imapclient.DELETED], silent=True)
        self._expunge(uids)

    def _expunge(self, uids: list[int]) -> None:
        # UID EXPUNGE (UIDPLUS) removes only our messages; a plain EXPUNGE would also remove
        # whatever another client flagged \Deleted, which is what any mail client does anyway.
        if self.has_capability("UIDPLUS"):
            self.client.uid_expunge(uids)
        else:
            self.client.expunge()

    def _ensure_folder(self, folder: str) -> None:
        if folder not in self._known_folders:
            if not self.client.folder_exists(folder):
                self.client.create_folder(folder)
            self._known_folders.add(folder)

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except (OSError, IMAPClientError):
                pass
            self.client = None


def _flag_text(flag: bytes | str) -> str:
    return flag.decode("ascii", "replace") if isinstance(flag, bytes) else flag


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text.strip() or type(exc).__name__


def plan_batches(
    uids: list[int], sizes: dict[int, int], max_count: int = FETCH_BATCH, max_bytes: int = FETCH_BYTES
) -> list[list[int]]:
    """Split UIDs into fetch batches of at most max_count messages and max_bytes; a bigger message goes alone."""
    batches: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if current and (len(current) >= max_count or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(uid)
        current_bytes += size
    if current:
        batches.append(current)
    return batches
