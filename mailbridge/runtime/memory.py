"""Effect: give the C allocator's free memory back to the system, so a long-running daemon's RSS stays flat.

Issue 18's soak found the Python heap flat (tracemalloc) while RSS grew 0.3-0.4 MB per 1,000 mails: glibc kept freed
chunks in its arenas (46 -> 111 MB of free chunks over 24 minutes), one arena per thread that ever allocated (IDLE
watchers, the database and IMAP worker threads). The daemon therefore caps the arenas at start (`mallopt`, as
MALLOC_ARENA_MAX=2 would) and trims the free memory after each round of its timers (`malloc_trim`, a few
milliseconds). Both are glibc calls; elsewhere (musl, macOS) they do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # glibc's mallopt parameter
ARENAS = 2


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_LIBC = _glibc()


def limit_arenas() -> bool:
    """Cap glibc's malloc arenas (call before threads start); False where the C library is not glibc."""
    if _LIBC is None:
        return False
    return bool(_LIBC.mallopt(M_ARENA_MAX, ARENAS))


def trim() -> bool:
    """Return free heap memory to the system; True when some was released."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))
