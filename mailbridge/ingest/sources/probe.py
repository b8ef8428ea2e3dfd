"""I/O: `mailbridge mailboxes test`: log in to one mailbox and report TLS, certificate, capabilities and folders.

Uses ImapSource.connect, so every connection error is the same one line the poller logs. Called
by the CLI (`mailboxes test`, `imap test`, `init`).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from imapclient.exceptions import IMAPClientError

from mailbridge.base.config.settings import MailboxSettings
from mailbridge.base.errors import SourceError
from mailbridge.base.port_security import security_hint
from mailbridge.ingest.sources.imap import ImapSource

CAPABILITIES = ("IDLE", "MOVE", "UIDPLUS", "CONDSTORE")
MAX_FOLDERS = 200  # message counts cost one STATUS each; a huge tree is cut here


@dataclass(frozen=True)
class ImapProbe:
    tls_version: str | None  # None: plaintext
    cipher: str | None
    cert_subject: str | None  # None: not available (plaintext, or validate_cert = false)
    cert_issuer: str | None
    cert_expires: str | None
    capabilities: dict[str, bool]
    folders: dict[str, int]  # folder -> messages
    missing: tuple[str, ...]  # configured folders the server does not have


def _name(rdns) -> str:
    return ", ".join(f"{key}={value}" for rdn in rdns for key, value in rdn)


def _tls_facts(sock) -> tuple:
    if not isinstance(sock, ssl.SSLSocket):
        return None, None, None, None, None
    cert = sock.getpeercert() or {}
    cipher = sock.cipher()
    return (
        sock.version(),
        cipher[0] if cipher else None,
        _name(cert["subject"]) if cert else None,
        _name(cert["issuer"]) if cert else None,
        cert.get("notAfter"),
    )


def _folder_counts(source: ImapSource) -> dict[str, int]:
    counts: dict[str, int] = {}
    for flags, _delimiter, name in source.client.list_folders()[:MAX_FOLDERS]:
        if b"\\Noselect" in flags or b"\\NonExistent" in flags:
            continue
        counts[name] = int(source.client.folder_status(name, [b"MESSAGES"])[b"MESSAGES"])
    return counts


def probe_mailbox(mailbox: MailboxSettings) -> ImapProbe:
    """Connect, log in and describe the server. Raises: SourceError with one clear line.

    A `security` that does not fit the port is named with a hint in under 2 s: plaintext or STARTTLS to a TLS port
    is sniffed before the test (it would wait for its whole timeout), SSL to a plaintext port after its TLS failure.
    """
    c = mailbox.connection
    where = f"mailbox {mailbox.name!r} ({c.host}:{c.port}, {c.security})"
    if c.security != "ssl" and (hint := security_hint(c.host, c.port, c.security)):
        raise SourceError(f"{where}: {hint}")
    try:
        return _probe_logged_in(mailbox)
    except SourceError as exc:
        # ImapSource.connect says "TLS failed" for a handshake that broke (not for an untrusted certificate).
        if c.security == "ssl" and "TLS failed" in str(exc) and (hint := security_hint(c.host, c.port, c.security)):
            raise SourceError(f"{exc}; {hint}") from None
        raise


def _probe_logged_in(mailbox: MailboxSettings) -> ImapProbe:
    with ImapSource(mailbox) as source:
        try:
            facts = _tls_facts(source.client._imap.sock)  # imapclient keeps imaplib's socket there
            capabilities = {name: source.has_capability(name) for name in CAPABILITIES}
            folders = _folder_counts(source)
        except IMAPClientError as exc:
            raise SourceError(f"mailbox {mailbox.name!r}: listing folders failed ({exc})") from None
    missing = tuple(f for f in mailbox.folders if f not in folders)
    return ImapProbe(*facts, capabilities, folders, missing)


def describe_probe(probe: ImapProbe) -> list[str]:
    """Render the probe as the lines `mailboxes test` prints."""
    tls = f"{probe.tls_version}, {probe.cipher}" if probe.tls_version else "none (plaintext)"
    lines = [f"TLS: {tls}"]
    if probe.cert_subject:
        lines += [
            f"certificate subject: {probe.cert_subject}",
            f"certificate issuer: {probe.cert_issuer}",
            f"certificate expires: {probe.cert_expires}",
        ]
    elif probe.tls_version:
        lines.append("certificate: not verified (validate_cert = false)")
    lines.append("capabilities: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in probe.capabilities.items()))
    lines += [f"folder {name}: {count} messages" for name, count in probe.folders.items()]
    return lines
