"""Decision: how much of a customer's mail one agent notification carries. Pure; `service.agent_mail` applies it.

A notification holds an excerpt of the new text and the list of the message's files (name and size); files are
attached by `[agents] attach_files`: "none", "small" (in order, while together within `attach_max_bytes`) or "all".
What is left out stays on the ticket, where `mailbridge tickets show NUMBER` shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Excerpt:
    text: str
    cut_chars: int  # characters left out at the end; 0: the whole text


def excerpt(text: str, limit: int) -> Excerpt:
    """Keep the first `limit` characters of a text, cut at the last line or word break within the last tenth."""
    if len(text) <= limit:
        return Excerpt(text, 0)
    head = text[:limit]
    floor = limit - max(limit // 10, 1)
    for breaker in ("\n", " "):
        at = head.rfind(breaker)
        if at > floor:
            head = head[:at]
            break
    head = head.rstrip()
    return Excerpt(head, len(text) - len(head))


def choose_attachments(sizes: Sequence[int], mode: str, max_bytes: int) -> tuple[bool, ...]:
    """Say for each file, in order, whether it is attached; "small" skips a file that would pass `max_bytes`."""
    if mode == "all":
        return tuple(True for _ in sizes)
    if mode == "none":
        return tuple(False for _ in sizes)
    chosen, total = [], 0
    for size in sizes:
        fits = total + size <= max_bytes
        chosen.append(fits)
        total += size if fits else 0
    return tuple(chosen)


def format_size(size: int) -> str:
    """Say a size in bytes as people read it: 512 B, 12 KB, 3.4 MB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
