"""The `[ingest]` table of mailbridge.toml, read into frozen settings.

`settings.load_settings` hands the table in as its `Section` reader (base/config/reader.py), so errors read like every
other configuration error: `file: [ingest] parse_processes: expected an integer 0-16, got -1`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INGEST_KEYS = {"parse_processes", "parse_timeout_seconds"}


@dataclass(frozen=True)
class IngestSettings:
    # Worker processes that parse fetched mail while the poller stores; 0 parses in the poller itself.
    parse_processes: int = 1
    # A message whose parse takes longer (in a worker) is stored raw and quarantined; the worker is replaced.
    parse_timeout_seconds: float = 20.0


def read_ingest(section: Any) -> IngestSettings:
    """Read and check `[ingest]`."""
    return IngestSettings(
        parse_processes=section.integer("parse_processes", IngestSettings.parse_processes, 0, 16),
        parse_timeout_seconds=section.number("parse_timeout_seconds", IngestSettings.parse_timeout_seconds, 0.1),
    )
