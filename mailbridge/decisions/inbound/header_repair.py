"""Decision: raw bytes whose header block is cut short -> the same bytes with that block readable again.

Pure; `parse.parse_message` calls it only when the normal parse finds no From or Subject, or a defect of the
header block, so clean mail costs nothing. It reads the header block only (at most `MAX_SCAN_BYTES`), once, in
linear time; the body is handed on unchanged. Two faults of real mail are repaired:

- lines before the first header (`---- Original email message ----`, a blank line a pipe added), which make
  every header body text: they are dropped when a header follows within `MAX_LEADING_LINES`;
- a header wrapped without indentation (a long Subject cut by a gateway): the stray line ends the header block
  and the headers after it become body text. It is indented again when a header follows within `MAX_RUN_LINES`.
  A stray line that no header follows is where the body starts, and stays so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SCAN_BYTES = 256 * 1024
MAX_LEADING_LINES = 3
MAX_RUN_LINES = 4
# A header line as the email package reads one (RFC 5322 §2.2: printable ASCII but the colon, then a colon).
# Bounded, so a long line without a colon is given up on after a line's worth of characters.
_FIELD = re.compile(rb"([!-9;-~]{1,998}):")
# Headers a line must name to be taken as the header block going on (a body line may well look like "Note: ...").
_KNOWN_FIELDS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "return-path",
        "received",
        "delivered-to",
        "mime-version",
        "user-agent",
        "organization",
        "importance",
        "priority",
        "precedence",
        "auto-submitted",
        "thread-topic",
        "thread-index",
        "comments",
        "keywords",
        "dkim-signature",
        "domainkey-signature",
        "authentication-results",
        "received-spf",
        "disposition-notification-to",
    }
)
_KNOWN_PREFIXES = ("x-", "content-", "list-", "resent-", "arc-")


@dataclass(frozen=True)
class HeaderRepair:
    raw: bytes  # the message with its header block repaired; the body as it was
    notes: tuple[str, ...]  # what was changed, for the defects: "leading-lines:1", "unindented-line:subject"


def repair_header_block(raw: bytes) -> HeaderRepair | None:
    """Recover the headers that a stray line hides; None when nothing needs (or can be) repaired."""
    lines = _head_lines(raw)
    start = 1 if lines and lines[0].startswith(b"From ") else 0  # an mbox separator, which the parser skips
    first = _first_field(lines, start)
    if first is None:
        return None
    notes = [f"leading-lines:{first - start}"] if first > start else []
    kept = list(lines[:start])
    i, field = first, ""
    while i < len(lines):
        line = lines[i]
        name = _field_name(line)
        if name is not None or line[:1] in (b" ", b"\t"):
            field = name or field
            kept.append(line)
            i += 1
            continue
        if not line.strip(b"\r\n"):
            break
        end = _run_end(lines, i)
        if end is None:
            break
        # The line(s) went on from the header above: indent them, as RFC 5322 §2.2.3 folding would have.
        kept.extend(b" " + stray for stray in lines[i:end])
        notes.append(f"unindented-line:{field}")
        i = end
    if not notes:
        return None
    consumed = sum(len(line) for line in lines[:i])
    return HeaderRepair(b"".join(kept) + raw[consumed:], tuple(dict.fromkeys(notes)))


def _head_lines(raw: bytes) -> list[bytes]:
    """The complete lines (with their ends) of the first MAX_SCAN_BYTES, up to the first blank line after a header."""
    lines: list[bytes] = []
    pos, seen_field = 0, False
    limit = min(len(raw), MAX_SCAN_BYTES)
    while pos < limit:
        end = raw.find(b"\n", pos, limit)
        if end < 0:
            break
        line = raw[pos : end + 1]
        lines.append(line)
        pos = end + 1
        if not line.strip(b"\r\n") and seen_field:
            break
        seen_field = seen_field or _field_name(line) is not None
        # No header among the first lines: there is no header block to recover (read on no further).
        if not seen_field and len(lines) > MAX_LEADING_LINES + 2:
            break
    return lines


def _first_field(lines: list[bytes], start: int) -> int | None:
    """The index of the first header line, when at most MAX_LEADING_LINES stray lines come before it."""
    for i in range(start, min(len(lines), start + MAX_LEADING_LINES + 1)):
        name = _field_name(lines[i])
        if name is not None:
            return i if i == start or _is_known(name) else None
        if lines[i][:1] in (b" ", b"\t"):
            return None
    return None


def _run_end(lines: list[bytes], i: int) -> int | None:
    """The end of a run of stray lines at `i` when a known header follows it within MAX_RUN_LINES, else None."""
    for end in range(i + 1, min(len(lines), i + MAX_RUN_LINES + 1)):
        line = lines[end]
        name = _field_name(line)
        if name is not None:
            return end if _is_known(name) else None
        if not line.strip(b"\r\n") or line[:1] in (b" ", b"\t"):
            return None
    return None


def _field_name(line: bytes) -> str | None:
    found = _FIELD.match(line)
    return found.group(1).decode("ascii").lower() if found else None


def _is_known(name: str) -> bool:
    return name in _KNOWN_FIELDS or name.startswith(_KNOWN_PREFIXES)
