"""Build TNEF streams (winmail.dat) for tests: what Outlook writes for attached files, and hostile variants."""

from __future__ import annotations

import struct

SIGNATURE = struct.pack("<I", 0x223E9F78)
LEVEL_MESSAGE, LEVEL_ATTACHMENT = 1, 2
ATT_TNEF_VERSION = 0x9006
ATT_MAPI_PROPS = 0x9003
ATT_REND_DATA = 0x9002  # starts a new attached file
ATT_TITLE = 0x8010
ATT_DATA = 0x800F


def tnef_object(level: int, name: int, data: bytes, kind: int = 6) -> bytes:
    """One TNEF attribute: level, name, type, length, data, checksum (RFC-less: MS-OXTNEF 2.1.3)."""
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def winmail(files: list[tuple[str, bytes]], extra: bytes = b"") -> bytes:
    """A winmail.dat holding `files` (name, bytes), as Outlook sends them; `extra` objects go before the files."""
    out = [
        SIGNATURE,
        struct.pack("<H", 0x1234),
        tnef_object(LEVEL_MESSAGE, ATT_TNEF_VERSION, struct.pack("<I", 0x10000)),
    ]
    out.append(extra)
    for name, payload in files:
        out.append(tnef_object(LEVEL_ATTACHMENT, ATT_REND_DATA, b"\x01\x00" + b"\x00" * 12))
        out.append(tnef_object(LEVEL_ATTACHMENT, ATT_TITLE, name.encode("cp1252") + b"\x00", kind=1))
        out.append(tnef_object(LEVEL_ATTACHMENT, ATT_DATA, payload))
    return b"".join(out)


def spinning_properties() -> bytes:
    """A MAPI property list that says it holds four billion properties and holds none."""
    return tnef_object(LEVEL_MESSAGE, ATT_MAPI_PROPS, struct.pack("<I", 0xFFFFFFFF))
