"""Attachment decisions for parse's MIME walk: what a part is kept as, and under which name. Pure.

Input: one compat32 part (and its decoded bytes); output: a name, bytes or a verdict. Only `inbound.parse` calls
this module.
"""

from __future__ import annotations

import re
from email import policy
from email.message import Message

from mailbridge.decisions.inbound.mime import decode_header_value, safe_filename

_UUENCODE = frozenset({"x-uuencode", "uuencode", "x-uue", "uue"})
_UU_BEGIN = re.compile(rb"(?m)^begin(?:-base64)? [0-7]{1,4} ")
_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
# An attached message is named after its subject, cut to this many characters before ".eml".
MESSAGE_NAME_CHARS = 80
_REPORT_POLICY = policy.compat32.clone(linesep="\r\n", mangle_from_=False)


def is_uuencode_without_begin(part: Message) -> bool:
    """Tell whether a part says it is uuencoded but has no `begin` line: text mislabelled, not a file."""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte not in _UUENCODE:
        return False
    raw = part.get_payload()
    # An empty part is an empty file, as its sender named it; only text without the frame is taken for text.
    if not isinstance(raw, str) or not raw.strip():
        return False
    return _UU_BEGIN.search(raw.encode("utf-8", "surrogateescape")) is None


def is_tnef(content_type: str, filename: str | None) -> bool:
    """Tell whether a part is Outlook's TNEF (winmail.dat), by its type or, under a generic type, by its name."""
    if content_type in _TNEF_TYPES:
        return True
    return (filename or "").strip().lower() == "winmail.dat" and content_type == "application/octet-stream"


def is_empty_message(content_type: str, payload: bytes) -> bool:
    """Tell whether an attached message serialised to nothing but line ends (no header, no body)."""
    return content_type in ("message/rfc822", "message/global") and not payload.strip()


def message_file_name(part: Message) -> str | None:
    """Name an attached message after its subject ("<subject>.eml", sanitised and bounded); None without one."""
    inner = part.get_payload()
    if isinstance(inner, list) and inner and isinstance(inner[0], Message):
        inner = inner[0]
    if not isinstance(inner, Message):
        return None
    # Slashes in a subject ("invoice 2026/0042") are no path: safe_filename would keep only what follows them.
    subject = " ".join(
        decode_header_value(str(inner.get("subject") or "")).replace("/", "_").replace("\\", "_").split()
    )
    if not subject:
        return None
    name = safe_filename(subject[:MESSAGE_NAME_CHARS].strip() + ".eml", "")
    return name if name and name != ".eml" else None


def report_bytes(part: Message) -> bytes:
    """Serialise a message/delivery-status part's body (its blocks of fields) back to text bytes."""
    blocks = part.get_payload()
    if isinstance(blocks, list):
        return b"".join(b.as_bytes(policy=_REPORT_POLICY) for b in blocks if isinstance(b, Message))
    if isinstance(blocks, str):
        return blocks.encode("utf-8", "surrogateescape")
    return b""
