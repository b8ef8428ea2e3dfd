"""The health file of `mailbridge run --health-file PATH`: the `mailbridge status` report as JSON, after each cycle.

Written to a temporary file and renamed, so a monitor never reads half a file. Called by the daemon
and by `run --once`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from mailbridge.base.files import replace_private
from mailbridge.reports.status import gather_status
from mailbridge.runtime.app import App
from mailbridge.store.reader import reader_of


def write_health_file(app: App, path: Path, now: datetime, last_error: str | None = None) -> None:
    """Write the status report (last successful poll per mailbox, outbox depth, oldest unsent, last error)."""
    with Session(app.engine) as session:
        report = asdict(gather_status(reader=reader_of(session), settings=app.settings))
    report.update(written_at=now, last_error=last_error)
    replace_private(path, json.dumps(report, default=_plain, indent=2))


def _plain(value):
    return value.isoformat() if isinstance(value, datetime) else str(value)
