"""The `[monitoring]` and `[metrics]` tables of mailbridge.toml, read into frozen settings.

`[monitoring]` holds the thresholds of `mailbridge status --check` (decisions/monitoring.py decides with them);
`[metrics]` where the daemon writes its Prometheus text file. `settings.load_settings` hands each table in as its
`Section` reader, so errors read like every other configuration error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

METRICS_KEYS = {"textfile"}


@dataclass(frozen=True)
class MonitoringSettings:
    """Thresholds of `status --check`: WARNING at the first, CRITICAL at the second; a count of 0 turns a check off."""

    # No successful sync of a mailbox for this long (a failing one is WARNING at once).
    sync_warning_minutes: float = 15.0
    sync_critical_minutes: float = 60.0
    # The oldest mail waiting to be sent (queued or sending) is this old.
    outbox_warning_minutes: float = 15.0
    outbox_critical_minutes: float = 60.0
    # Mail held after a permanent failure, messages quarantined, open tickets past their first-response time.
    held_warning_count: int = 1
    held_critical_count: int = 0
    quarantined_warning_count: int = 1
    quarantined_critical_count: int = 0
    sla_breached_warning_count: int = 1
    sla_breached_critical_count: int = 0


MONITORING_KEYS = {f.name for f in fields(MonitoringSettings)}


@dataclass(frozen=True)
class MetricsSettings:
    textfile: Path | None = None  # Prometheus text format, rewritten after every cycle; None: no metrics


def read_monitoring(section: Any) -> MonitoringSettings:
    """Read and check `[monitoring]`: each critical threshold is at least its warning one (when both are on)."""
    values: dict[str, Any] = {}
    for item in fields(MonitoringSettings):
        if item.name.endswith("_minutes"):
            values[item.name] = section.number(item.name, item.default, 1.0)
        else:
            values[item.name] = section.integer(item.name, item.default, 0, 1_000_000)
    for name in values:
        if not name.endswith("_critical_minutes") and not name.endswith("_critical_count"):
            continue
        warning = values[name.replace("_critical_", "_warning_")]
        critical = values[name]
        if critical and warning and critical < warning:
            section.fail(name, f"expected at least the warning threshold ({warning:g})", critical)
    return MonitoringSettings(**values)


def read_metrics(section: Any) -> MetricsSettings:
    """Read and check `[metrics]`: the node_exporter textfile collector reads only `*.prom` files."""
    textfile = section.text("textfile")
    if textfile is None:
        return MetricsSettings()
    if not textfile.endswith(".prom"):
        section.fail(
            "textfile", 'expected a path ending in ".prom" (the textfile collector reads only those)', textfile
        )
    path = section.relative_path(textfile)
    if not path.parent.is_dir():
        section.fail("textfile", "expected a file in an existing directory", textfile)
    return MetricsSettings(textfile=path)
