"""Decision: raw bounce bytes -> BounceReport. Pure; a thin adapter around flufl.bounce (GNU Mailman's
bounce detectors, which know the formats of real MTAs), plus the original Message-ID so intake can
attach the bounce to the outbox row it answers.
"""

from __future__ import annotations

import email
import logging
import re
from dataclasses import dataclass
from email import policy

from flufl.bounce import all_failures

log = logging.getLogger(__name__)
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class BounceReport:
    permanent: frozenset[str]  # lower-cased addresses that failed for good
    original_message_ids: tuple[str, ...]  # ids of the mail that bounced, from the returned headers


def read_bounce(raw: bytes) -> BounceReport:
    """Find who bounced and which of our mails it was; never raises."""
    message = email.message_from_bytes(raw, policy=policy.compat32)
    try:
        _temporary, permanent = all_failures(message)
    except Exception:  # noqa: BLE001 - a detector choking on odd input must not stop intake
        log.warning("bounce detectors failed; storing the bounce without addresses", exc_info=True)
        permanent = frozenset()
    return BounceReport(
        permanent=frozenset(_text(a) for a in permanent),
        original_message_ids=_returned_message_ids(message) or _quoted_message_ids(raw),
    )


def _text(address: bytes | str) -> str:
    value = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
    return value.strip().strip("<>").lower()


def _returned_message_ids(message) -> tuple[str, ...]:
    """Message-IDs in the returned part (message/rfc822 or text/rfc822-headers) of a DSN."""
    found: list[str] = []
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            if inner.get("Message-ID"):
                found.append(str(inner.get("Message-ID")).strip())
        elif content_type in ("text/rfc822-headers", "message/rfc822-headers", "message/rfc822"):
            payload = part.get_payload(decode=True) or b""
            found.extend(m.decode("ascii", "replace") for m in MESSAGE_ID.findall(payload))
    return tuple(dict.fromkeys(found))


def _quoted_message_ids(raw: bytes) -> tuple[str, ...]:
    """Message-ID lines quoted in the body, for MTAs that paste the original headers as text."""
    _head, _sep, body = raw.partition(b"\r\n\r\n")
    if not body:
        _head, _sep, body = raw.partition(b"\n\n")
    return tuple(dict.fromkeys(m.decode("ascii", "replace") for m in MESSAGE_ID.findall(body)))
