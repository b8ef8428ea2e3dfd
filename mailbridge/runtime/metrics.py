"""The `[metrics] textfile`: Prometheus text format for the node_exporter textfile collector.

Rewritten after every poll of the daemon and after `run --once` (`runtime.daemon`, `runtime.jobs.run_cycle`), from
the `mailbridge status` figures and a `PollTally` of this process, with a private registry. `write_to_textfile`
writes a temporary file in the same directory and renames it, so a scrape never reads half a file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlmodel import Session

from mailbridge.base.clock import SystemClock
from mailbridge.decisions.business_hours import build_calendar
from mailbridge.decisions.monitoring import FleetFigures, evaluate_health
from mailbridge.ingest.poll import PollResult
from mailbridge.reports.daemons import fleet_figures
from mailbridge.reports.status import StatusReport, gather_status, health_figures
from mailbridge.runtime.app import App
from mailbridge.store.reader import reader_of

OUTCOMES = ("fetched", "stored", "duplicate", "failed")
AUDIT_FINDINGS = ("missing", "marked_not_stored", "stored_not_marked", "not_yet_polled")


@dataclass
class PollTally:
    """What the polls of this process did, per mailbox: counters since start, and the last successful poll."""

    messages: dict[str, dict[str, int]] = field(default_factory=dict)  # mailbox -> outcome -> count
    polls: dict[str, dict[str, int]] = field(default_factory=dict)  # mailbox -> "ok" | "error" -> count
    last: dict[str, PollResult] = field(default_factory=dict)

    def record(self, mailbox: str, result: PollResult | None) -> None:
        """Count one poll: its result, or None when it failed."""
        polls = self.polls.setdefault(mailbox, {"ok": 0, "error": 0})
        messages = self.messages.setdefault(mailbox, dict.fromkeys(OUTCOMES, 0))
        if result is None:
            polls["error"] += 1
            return
        polls["ok"] += 1
        for outcome, count in zip(OUTCOMES, _outcomes(result), strict=True):
            messages[outcome] += count
        self.last[mailbox] = result

    def snapshot(self) -> PollTally:
        """A copy to hand to another thread."""
        return PollTally(
            {k: dict(v) for k, v in self.messages.items()}, {k: dict(v) for k, v in self.polls.items()}, dict(self.last)
        )


def write_metrics_file(app: App, path: Path, now: datetime, tally: PollTally) -> None:
    """Write every metric to `path` atomically, readable by the exporter (mode 0644)."""
    calendar = build_calendar(app.settings.sla, range(now.year - 1, now.year + 2))
    names = tuple(m.name for m in app.settings.mailboxes)
    with Session(app.engine) as session:
        report = gather_status(reader=reader_of(session), settings=app.settings, now=now, calendar=calendar)
        # The daemons' beats and leases are judged by the real clock, as `status --check` does.
        fleet = fleet_figures(reader_of(session), names, app.settings.daemon.lease_seconds, SystemClock().now())
    families = [*mailbox_metrics(report, tally, now), *store_metrics(report, app, now, fleet)]
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Families(families))
    write_to_textfile(str(path), registry)
    # The rename keeps the temporary file's mode, which a strict UMask= of the unit would make unreadable.
    os.chmod(path, 0o644)


def mailbox_metrics(report: StatusReport, tally: PollTally, now: datetime) -> list[Metric]:
    """Per mailbox: messages and polls of this process, the last poll, the age of the last sync, failing or not."""
    messages = CounterMetricFamily(
        "mailbridge_mailbox_messages",
        "Messages handled by the polls of this process, by outcome (duplicate: stored before).",
        labels=["mailbox", "outcome"],
    )
    polls = CounterMetricFamily(
        "mailbridge_mailbox_polls", "Polls of this process by result.", labels=["mailbox", "result"]
    )
    last = GaugeMetricFamily(
        "mailbridge_mailbox_last_poll_messages",
        "Messages of the last successful poll of this process, by outcome.",
        labels=["mailbox", "outcome"],
    )
    age = GaugeMetricFamily(
        "mailbridge_mailbox_last_sync_age_seconds",
        "Seconds since the last successful sync (+Inf: never).",
        labels=["mailbox"],
    )
    failing = GaugeMetricFamily("mailbridge_mailbox_failing", "1 while the mailbox's polls fail.", labels=["mailbox"])
    audit = GaugeMetricFamily(
        "mailbridge_audit_messages",
        "Messages the last audit of the mailbox found, by finding (missing, marked_not_stored, stored_not_marked: "
        "problems; not_yet_polled: the next poll takes them).",
        labels=["mailbox", "finding"],
    )
    audit_at = GaugeMetricFamily(
        "mailbridge_audit_last_run_timestamp_seconds",
        "When the mailbox was last audited; 0: never.",
        labels=["mailbox"],
    )
    audit_failed = GaugeMetricFamily(
        "mailbridge_audit_failed", "1 when the last audit of the mailbox could not run.", labels=["mailbox"]
    )
    for mailbox in report.mailboxes:
        name = mailbox.name
        for outcome in OUTCOMES:
            messages.add_metric([name, outcome], tally.messages.get(name, {}).get(outcome, 0))
        for result in ("ok", "error"):
            polls.add_metric([name, result], tally.polls.get(name, {}).get(result, 0))
        if name in tally.last:
            for outcome, count in zip(OUTCOMES, _outcomes(tally.last[name]), strict=True):
                last.add_metric([name, outcome], count)
        synced = mailbox.last_success_at
        age.add_metric([name], max((now - synced).total_seconds(), 0.0) if synced else math.inf)
        failing.add_metric([name], 1 if mailbox.failing_since else 0)
        found = mailbox.audit
        if found is not None:
            for finding in AUDIT_FINDINGS:
                audit.add_metric([name, finding], getattr(found, finding))
        audit_at.add_metric([name], found.ran_at.timestamp() if found and found.ran_at else 0.0)
        audit_failed.add_metric([name], 1 if found and found.error else 0)
    return [messages, polls, last, age, failing, audit, audit_at, audit_failed]


def store_metrics(report: StatusReport, app: App, now: datetime, fleet: FleetFigures | None = None) -> list[Metric]:
    """The outbox and the tickets by status, quarantined mail, the `status --check` state, and when this was written."""
    outbox = GaugeMetricFamily("mailbridge_outbox_mails", "Outgoing mails by status.", labels=["status"])
    for status, count in report.outbox_by_status.items():
        outbox.add_metric([status], count)
    oldest = report.oldest_unsent_at
    oldest_age = GaugeMetricFamily(
        "mailbridge_outbox_oldest_unsent_age_seconds",
        "Age of the oldest mail waiting to be sent (0: none).",
        value=max((now - oldest).total_seconds(), 0.0) if oldest and report.outbox_depth else 0.0,
    )
    tickets = GaugeMetricFamily("mailbridge_tickets", "Tickets by status.", labels=["status"])
    for status, count in report.tickets_by_status.items():
        tickets.add_metric([status], count)
    state = evaluate_health(replace(health_figures(report), fleet=fleet), app.settings.monitoring, now).state
    return [
        outbox,
        oldest_age,
        tickets,
        GaugeMetricFamily(
            "mailbridge_tickets_sla_breached",
            "Open tickets without a first response past their due time.",
            value=report.sla_breached or 0,
        ),
        GaugeMetricFamily("mailbridge_messages_quarantined", "Messages quarantined.", value=report.quarantined),
        GaugeMetricFamily(
            "mailbridge_check_state", "State of `mailbridge status --check`: 0 OK, 1 WARNING, 2 CRITICAL.", value=state
        ),
        GaugeMetricFamily(
            "mailbridge_metrics_written_timestamp_seconds", "When this file was written.", value=now.timestamp()
        ),
    ]


def _outcomes(result: PollResult) -> tuple[int, ...]:
    return (result.fetched, result.stored, result.duplicates, result.failed)


class _Families:
    """A collector that yields metric families built beforehand."""

    def __init__(self, families: Iterable[Metric]):
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)
