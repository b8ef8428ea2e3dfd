"""Decision: the order number a customer's mail names, found by the shop's `order_number_regex`. Pure.

Called by intake for every stored customer message; the number is shown by `tickets show` and searchable.
"""

from __future__ import annotations

import re


def extract_order_number(subject: str, body: str, pattern: re.Pattern[str]) -> str | None:
    """Return the first order number in subject, then body: group 1 of the pattern, else the whole match."""
    for source in (subject or "", (body or "")[:100_000]):
        found = pattern.search(source)
        if found:
            return (found.group(1) if pattern.groups else found.group(0)).strip()[:100] or None
    return None
