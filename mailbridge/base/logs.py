"""Log output for `mailbridge run --log-format json`: one JSON object per line.

Our log lines carry their facts as `key=value` (one logger per module); the JSON formatter lifts the
structured ones (mailbox, uid, message_id, ticket, outbox_id ...) into fields of their own.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

FIELDS = ("mailbox", "uid", "message_id", "ticket", "outbox_id", "job", "status", "kind")
PAIR = re.compile(r"\b(" + "|".join(FIELDS) + r")=(\S+)")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line with time, level, logger, message and the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, str | int] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for key, value in PAIR.findall(message):
            if value != "None":
                entry[key] = int(value) if value.isdigit() and key in ("uid", "outbox_id") else value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def use_log_format(log_format: str) -> None:
    """Switch every handler of the root logger to "text" or "json" lines."""
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
