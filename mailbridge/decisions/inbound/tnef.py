"""Adapter: the bytes of a winmail.dat (TNEF, application/ms-tnef) -> the files inside it. Pure.

Wraps tnefparse. Called by `inbound.parse` for each TNEF part; the part itself is kept too. The library reads
counts from the file and trusts them (a property count of four billion spins that often; each object copies the
rest of the file), so the stream is checked first: an object that would make it loop is dropped, and the stream is
cut past MAX_OBJECTS objects or past COPY_BUDGET_BYTES of copying; the rest is still read.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

from tnefparse.mapi import GUID_EXISTS_FLAG, IMESSAGE_SIG, MULTI_VALUE_FLAG
from tnefparse.tnef import TNEF

SIGNATURE = b"\x78\x9f\x3e\x22"
# A real winmail.dat holds about six objects per attached file.
MAX_OBJECTS = 3000
# The library copies the rest of the stream for every object it reads (a slice): this much copying in all.
COPY_BUDGET_BYTES = 2 * 1024**3
# An attached Outlook item inside the winmail.dat is a TNEF stream of its own; deeper nesting is not read.
_MAX_NESTING = 2
_HEADER = 9  # level (1), name (2), type (2), length (4); a checksum (2) follows the data
_MAPI_LISTS = {0x9003, 0x9005}  # attMAPIProps, attAttachment: a MAPI property list
_RECIPIENTS = 0x9004  # attRecipTable: a count of rows, then a property list per row
_FIXED_SIZE = {0x0002: 2, 0x000B: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x0048: 16}
_FIXED_SIZE.update(dict.fromkeys((0x0005, 0x0006, 0x0007, 0x0014, 0x0040), 8))
_COUNTED = {0x001E, 0x001F, 0x000D, 0x0102, 0x0000}  # strings, objects, binary: a count, then length + bytes
_MAPI_DATA_OBJ = 0x3701

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TnefFile:
    name: str  # as the sender's Outlook named it; not yet sanitised
    payload: bytes


@dataclass(frozen=True)
class Unpacked:
    files: tuple[TnefFile, ...]
    defects: tuple[str, ...]


def unpack_tnef(data: bytes, max_files: int) -> Unpacked:
    """Return the files inside a TNEF stream, at most `max_files`; never raises."""
    if not data.startswith(SIGNATURE):
        return Unpacked((), ("tnef-unreadable:signature",))
    stream, defects = _bounded_stream(data, 0)
    try:
        tnef = TNEF(stream, do_checksum=False)
    except Exception as exc:  # noqa: BLE001 - tnefparse on a broken stream: the winmail.dat itself is kept.
        log.info("winmail.dat not readable: %s: %s", type(exc).__name__, exc)
        return Unpacked((), (*defects, f"tnef-unreadable:{type(exc).__name__}"))
    files: list[TnefFile] = []
    attachments = list(tnef.attachments)
    if any(d.startswith("tnef-cut") for d in defects) and attachments:
        # The file being read where the stream was cut is incomplete: kept only inside the winmail.dat.
        attachments.pop()
    for attachment in attachments:
        # An attached Outlook item is a message, not a file: it stays inside the winmail.dat kept beside. An empty
        # file with a name is a file all the same (AUTOEXEC.BAT of 0 bytes).
        name = _name(attachment)
        if hasattr(attachment, "embed") or not (name or attachment.data):
            continue
        if len(files) == max_files:
            defects.append(f"tnef-files-cut:{max_files}")
            break
        files.append(TnefFile(name, bytes(attachment.data)))
    return Unpacked(tuple(files), tuple(defects))


def _name(attachment: object) -> str:
    try:
        name = attachment.long_filename()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a name in a code page the library cannot decode.
        name = ""
    return name if isinstance(name, str) else ""


def _bounded_stream(data: bytes, depth: int) -> tuple[bytes, list[str]]:
    """Return the TNEF stream the library can read in bounded time, and what was left out of it.

    An object whose counts outrun its bytes is dropped; the stream is cut after MAX_OBJECTS objects, and before
    the object that would make the library copy more than COPY_BUDGET_BYTES (object i copies the stream from its
    own offset to the end, so k objects ending at `end` cost k * end - the sum of their offsets).
    """
    kept, defects = [data[:6]], []
    offset, size, objects, offsets_sum = 6, 6, 0, 0
    while offset + 12 < len(data):
        name, length = struct.unpack_from("<H", data, offset + 1)[0], struct.unpack_from("<I", data, offset + 5)[0]
        end = min(len(data), offset + _HEADER + length + 2)
        if not _object_is_bounded(name, data[offset + _HEADER : end - 2], depth):
            defects.append(f"tnef-dropped:object-{name:#06x}")
        elif objects == MAX_OBJECTS:
            defects.append(f"tnef-cut:objects>{MAX_OBJECTS}")
            break
        elif (objects + 1) * (size + end - offset) - (offsets_sum + size) > COPY_BUDGET_BYTES:
            defects.append("tnef-cut:size")
            break
        else:
            kept.append(data[offset:end])
            objects, offsets_sum, size = objects + 1, offsets_sum + size, size + end - offset
        offset = end
    return (data if not defects else b"".join(kept)), defects


def _object_is_bounded(name: int, body: bytes, depth: int) -> bool:
    if name in _MAPI_LISTS:
        return _mapi_list_end(body, 0, depth) is not None
    if name == _RECIPIENTS:
        if len(body) < 4:
            return False
        rows, offset = struct.unpack_from("<I", body)[0], 4
        if rows > len(body) // 8:
            return False
        for _ in range(rows):
            found = _mapi_list_end(body, offset, depth)
            if found is None:
                return False
            offset = found
    return True


def _mapi_list_end(data: bytes, offset: int, depth: int) -> int | None:
    """Walk a MAPI property list as tnefparse's decode_mapi does; None when a count outruns the bytes left."""
    try:
        count = _u32(data, offset)
        offset += 4
        if count > (len(data) - offset) // 4:
            return None
        for _ in range(count):
            kind, name = struct.unpack_from("<HH", data, offset)
            offset += 4
            if name >= GUID_EXISTS_FLAG:
                offset += 16
                named = _u32(data, offset)
                offset += 4
                offset += 4 if named == 0 else 4 + _padded(_u32(data, offset))
            multi = None
            if kind & MULTI_VALUE_FLAG:
                kind ^= MULTI_VALUE_FLAG
                multi = _u32(data, offset)
                offset += 4
                if multi > (len(data) - offset) // 2:
                    return None
            for _ in range(multi or 1):
                found = _value_end(data, offset, kind, name, bool(multi), depth)
                if found is None:
                    return None
                offset = found
            if (multi or 1) % 2 and kind in (0x0002, 0x000B):
                offset += 2
            if offset > len(data):
                return None
    except struct.error:
        # The library stops at the same place (it catches its own error) and keeps what it read.
        return len(data)
    return offset


def _value_end(data: bytes, offset: int, kind: int, name: int, multi: bool, depth: int) -> int | None:
    if kind in _FIXED_SIZE:
        return offset + _FIXED_SIZE[kind]
    if kind not in _COUNTED:
        return len(data)  # the library stops here: an unknown type ends the list
    count = 1
    if not multi:
        count = _u32(data, offset)
        offset += 4
        if count > (len(data) - offset) // 4:
            return None
    for _ in range(count):
        length = _u32(data, offset)
        offset += 4
        item = data[offset : offset + length]
        if name == _MAPI_DATA_OBJ and item.startswith(IMESSAGE_SIG):
            inner = item[len(IMESSAGE_SIG) :]
            if depth >= _MAX_NESTING or not inner.startswith(SIGNATURE) or _bounded_stream(inner, depth + 1)[1]:
                return None
        offset += _padded(length)
    return offset


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def _padded(length: int) -> int:
    return length + (-length % 4)
