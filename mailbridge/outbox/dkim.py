"""DKIM signing of outgoing mail (dkimpy), per sending domain. Called once per mail, when it is queued.

The runtime builds one DkimSigner from `[[dkim]]` and hands its `sign` in as `MailContext.sign`, which
`store.outbox_queue.enqueue` applies to the mail's bytes: the outbox row holds the signed mail, and delivery
sends it unchanged, so a resend after a crash or `outbox retry` is byte for byte the first send.
"""

from __future__ import annotations

import email
from email import policy

from mailbridge.base.config.settings import DkimKey

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"in-reply-to",
    b"references",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"auto-submitted",
)


class DkimSigner:
    """Signs mail whose From domain has a key; other mail passes unchanged."""

    def __init__(self, keys: tuple[DkimKey, ...]):
        self.keys = {key.domain.lower(): key for key in keys}

    def sign(self, raw: bytes) -> bytes:
        """Return `raw` with a DKIM-Signature header prepended when its From domain has a key."""
        if not self.keys:
            return raw
        header = email.message_from_bytes(raw, policy=policy.default)["From"]
        addresses = getattr(header, "addresses", ()) if header is not None else ()
        domain = addresses[0].domain.lower() if addresses else ""
        key = self.keys.get(domain)
        if key is None:
            return raw
        present = {line.split(b":", 1)[0].strip().lower() for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")}
        include = [h for h in SIGNED_HEADERS if h in present]
        # Imported here: dkimpy and what it pulls in cost about 10 MB, for sites that sign nothing too.
        import dkim

        signature = dkim.sign(
            raw, key.selector.encode(), key.domain.encode(), key.private_key, include_headers=include, linesep=b"\r\n"
        )
        return signature + raw
