"""The `[ingest]` table of mailbridge.toml, read into frozen settings.

`settings.load_settings` hands the table in as its `Section` reader (base/config/reader.py), so errors read like every
other configuration error: `file: [ingest] parse_processes: expected an integer 0-16, got -1`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

INGEST_KEYS = {
    "parse_processes",
    "parse_timeout_seconds",
    "max_parts",
    "max_depth",
    "max_decoded_bytes",
    "raw_file_threshold_bytes",
    "data_dir",
}


@dataclass(frozen=True)
class IngestSettings:
    # Worker processes that parse fetched mail while the poller stores; 0 parses in the poller itself.
    parse_processes: int = 1
    # A message whose parse takes longer (in a worker) is stored raw and quarantined; the worker is replaced.
    parse_timeout_seconds: float = 20.0
    # A message with more MIME parts, deeper nesting or more decoded bytes is stored raw and quarantined.
    max_parts: int = 500
    max_depth: int = 20
    max_decoded_bytes: int | None = None  # None: twice the mailbox's max_message_bytes
    # Raw mail larger than this is kept as a file under data_dir/raw instead of a database blob.
    raw_file_threshold_bytes: int = 1024 * 1024
    data_dir: Path | None = None  # None: the SQLite database's directory, else the configuration file's


def read_ingest(section: Any) -> IngestSettings:
    """Read and check `[ingest]`."""
    return IngestSettings(
        parse_processes=section.integer("parse_processes", IngestSettings.parse_processes, 0, 16),
        parse_timeout_seconds=section.number("parse_timeout_seconds", IngestSettings.parse_timeout_seconds, 0.1),
        max_parts=section.integer("max_parts", IngestSettings.max_parts, 1, 100_000),
        max_depth=section.integer("max_depth", IngestSettings.max_depth, 1, 60),
        max_decoded_bytes=section.integer("max_decoded_bytes", None, 1, 2**40),
        raw_file_threshold_bytes=section.integer(
            "raw_file_threshold_bytes", IngestSettings.raw_file_threshold_bytes, 1, 2**40
        ),
        data_dir=section.relative_path(data_dir) if (data_dir := section.text("data_dir")) else None,
    )
