"""The `[audit]` table of mailbridge.toml: when the daemon audits every mailbox (`mailboxes audit`), read into
frozen settings. `settings.load_settings` hands the table in as its `Section` reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AUDIT_KEYS = {"nightly", "hour"}


@dataclass(frozen=True)
class AuditSettings:
    """The nightly audit: on or off, and the hour it runs at, in `[sla] timezone` (the zone reports show)."""

    nightly: bool = True
    hour: int = 3  # 0-23


def read_audit(section: Any) -> AuditSettings:
    """Read and check `[audit]`: `nightly` true or false, `hour` a whole hour 0-23."""
    return AuditSettings(nightly=section.boolean("nightly", True), hour=section.integer("hour", 3, 0, 23))
