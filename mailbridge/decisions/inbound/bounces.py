"""Decision: raw bounce bytes -> BounceReport. Pure; a thin adapter around flufl.bounce (GNU Mailman's
bounce detectors, which know the formats of real MTAs), plus the original Message-ID so intake can
attach the bounce to the outbox row it answers.

Where the DSN carries RFC 3464 per-recipient fields, they decide: `Action: delayed` or a `Status: 4.x.x` is a
temporary failure (never suppressed, the mail not marked bounced), even when a detector reads the report's
prose ("unrecoverable error") as permanent.
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
    temporary: frozenset[str] = frozenset()  # lower-cased addresses whose delivery is delayed or failed for now


def main_recipient_failed(rcpt_to: str, permanent: frozenset[str]) -> bool:
    """Tell whether a bounce means the mail failed as a whole: its first envelope recipient (the customer of an
    answer with people in Cc; the only one of any other mail) failed for good. A report naming only Cc recipients
    leaves the mail delivered; one naming none of its recipients (a forwarding address, a rewriting relay) counts as
    the mail's."""
    if not permanent:
        return False
    recipients = [r.strip().lower() for r in rcpt_to.split(",") if r.strip()]
    if not recipients or recipients[0] in permanent:
        return True
    return not permanent & set(recipients[1:])


def read_bounce(raw: bytes) -> BounceReport:
    """Find who bounced and which of our mails it was; never raises."""
    message = email.message_from_bytes(raw, policy=policy.compat32)
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # noqa: BLE001 - a detector choking on odd input must not stop intake
        log.warning("bounce detectors failed; storing the bounce without addresses", exc_info=True)
        temporary, permanent = frozenset(), frozenset()
    stated = _stated_failures(message)
    failed_for_good = {_text(a) for a in permanent} | {a for a, lasting in stated.items() if lasting}
    for_now = {_text(a) for a in temporary} | {a for a, lasting in stated.items() if not lasting}
    return BounceReport(
        permanent=frozenset(a for a in failed_for_good if stated.get(a, True)),
        original_message_ids=_returned_message_ids(message) or _quoted_message_ids(raw),
        temporary=frozenset(a for a in for_now if not stated.get(a, False)),
    )


def _stated_failures(message) -> dict[str, bool]:
    """Recipients the DSN's own fields (RFC 3464 §2.3) report as failed -> whether for good.

    A recipient is failed for good when its Action is `failed` with a 5.x.x Status (RFC 3463 §3.1: permanent);
    `delayed`, or any 4.x.x Status (a persistent transient failure, also when the MTA gave up: the address
    itself is not known to be bad), is a failure for now. Delivered, relayed and expanded recipients are left out.
    """
    stated: dict[str, bool] = {}
    for part in message.walk():
        blocks = part.get_payload() if part.get_content_type() == "message/delivery-status" else None
        for block in blocks if isinstance(blocks, list) else ():
            recipient = _recipient(block.get("Final-Recipient") or block.get("Original-Recipient"))
            action = str(block.get("Action") or "").strip().lower()
            status = str(block.get("Status") or "").strip()
            if not recipient or not (action in ("failed", "delayed") or status[:1] in ("4", "5")):
                continue
            lasting = action != "delayed" and (status[:1] == "5" or (action == "failed" and status[:1] != "4"))
            # Several blocks for one recipient: one that says "for now" is enough to spare the address.
            stated[recipient] = lasting and stated.get(recipient, True)
    return stated


def _recipient(field) -> str:
    """The address of a recipient field: `rfc822; <a@example.org>` -> `a@example.org`."""
    _type, _sep, address = str(field or "").rpartition(";")
    return _text(address) if "@" in address else ""


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
