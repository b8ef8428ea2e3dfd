"""The `[retention]` table of mailbridge.toml: how long finished tickets keep their raw mail and their personal data.

Read by `settings.load_settings` through its `Section` reader; the daily timer (`runtime.retention`) applies it.
0 (or the key left out) turns a rule off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RETENTION_KEYS = {"purge_raw_after_days", "anonymise_after_days"}
MOST_DAYS = 36500


@dataclass(frozen=True)
class RetentionSettings:
    # Closed tickets older than this lose their raw mail (blobs and files) and attachment contents; the text stays.
    purge_raw_after_days: int = 0
    # Closed tickets older than this are anonymised as a whole: customer, subjects, bodies, attachments, raw mail.
    anonymise_after_days: int = 0


def read_retention(section: Any) -> RetentionSettings:
    """Read and check `[retention]`."""
    purge = section.integer("purge_raw_after_days", 0, 0, MOST_DAYS)
    anonymise = section.integer("anonymise_after_days", 0, 0, MOST_DAYS)
    if purge and anonymise and anonymise < purge:
        section.fail(
            "anonymise_after_days",
            f"expected 0 or at least purge_raw_after_days ({purge}): anonymising removes the raw mail too",
            anonymise,
        )
    return RetentionSettings(purge_raw_after_days=purge, anonymise_after_days=anonymise)
