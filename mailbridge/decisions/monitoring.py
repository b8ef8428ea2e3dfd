"""Decision: the state of `mailbridge status --check` (monitoring-plugin convention, Nagios/Icinga). Pure.

Figures in (each mailbox's last sync and failure and its last audit's findings, the outbox, held, quarantined,
tickets past their SLA, the daemons' beats and mailbox leases), the `[monitoring]` thresholds and `now`; out a CheckResult: the state (its value is the exit code) and the one line
`MAILBRIDGE <STATE> - <summary> | <perfdata>`. `cli.operate.status_cmd` prints it; `runtime.metrics` exports the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from mailbridge.base.config.monitoring import MonitoringSettings
from mailbridge.decisions.leases import FORGET_AFTER_LEASES, is_live

MAX_ERROR_CHARS = 120


class CheckState(IntEnum):
    """The plugin states; the value is the exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class MailboxFigures:
    name: str
    last_success_at: datetime | None
    failing_since: datetime | None  # start of the current failure episode; None: the last poll succeeded
    last_error: str = ""


@dataclass(frozen=True)
class HealthFigures:
    mailboxes: tuple[MailboxFigures, ...]
    unsent: int  # queued or sending
    oldest_unsent_at: datetime | None
    held: int
    quarantined: int
    sla_breached: int  # open tickets without a first response, past its due time
    failing_jobs: tuple[FailingJob, ...] = ()  # daemon jobs (delivery, timers) whose last run failed
    fleet: FleetFigures | None = None  # the daemons on the database and the mailbox leases; None: not judged
    audits: tuple[AuditFigures, ...] = ()  # the last audit of each configured mailbox that has one


@dataclass(frozen=True)
class AuditFigures:
    """What the last audit of a mailbox found (`mailboxes audit`, the daemon's nightly run)."""

    mailbox: str
    ran_at: datetime | None
    missing: int  # on the server, never stored
    marked_not_stored: int  # marked on the server (read, moved) but never stored
    stored_not_marked: int  # stored, but the server does not show it handled
    error: str = ""  # the audit could not run: why


@dataclass(frozen=True)
class FailingJob:
    name: str
    failing_since: datetime
    last_error: str


@dataclass(frozen=True)
class DaemonFigures:
    instance: str
    host: str
    pid: int
    started_at: datetime | None
    last_beat_at: datetime | None


@dataclass(frozen=True)
class LeaseFigures:
    mailbox: str
    holder: str | None  # a daemon's instance; None: free
    expires_at: datetime | None  # held: until when; free: since when (None: never held, or freed before this was kept)


@dataclass(frozen=True)
class FleetFigures:
    """The daemons' rows and the mailboxes' leases, judged at `checked_at`: the real time, never a replayed
    MAILBRIDGE_NOW, because beats and leases are written with the hosts' real clocks (runtime/fleet.py)."""

    daemons: tuple[DaemonFigures, ...]
    leases: tuple[LeaseFigures, ...]
    mailboxes: tuple[str, ...]  # the [[mailboxes]] of the configuration
    lease_seconds: float
    checked_at: datetime


@dataclass(frozen=True)
class Finding:
    state: CheckState
    text: str


@dataclass(frozen=True)
class CheckResult:
    state: CheckState
    line: str
    findings: tuple[Finding, ...]  # the problems, worst first; empty when OK


def evaluate_health(figures: HealthFigures, limits: MonitoringSettings, now: datetime) -> CheckResult:
    """Decide the check's state and its one line from the figures and the thresholds."""
    found = [*(_mailbox_finding(m, limits, now) for m in figures.mailboxes), _outbox_finding(figures, limits, now)]
    found += [
        _count_finding(figures.held, limits.held_warning_count, limits.held_critical_count, "mail held", "mails held"),
        _count_finding(
            figures.quarantined,
            limits.quarantined_warning_count,
            limits.quarantined_critical_count,
            "message quarantined",
            "messages quarantined",
        ),
        _count_finding(
            figures.sla_breached,
            limits.sla_breached_warning_count,
            limits.sla_breached_critical_count,
            "ticket past its first-response time",
            "tickets past their first-response time",
        ),
    ]
    found += [_job_finding(job, limits, now) for job in figures.failing_jobs]
    found += [_audit_finding(audit, now) for audit in figures.audits]
    found += fleet_findings(figures.fleet) if figures.fleet is not None else []
    problems = tuple(sorted((f for f in found if f is not None), key=lambda f: -f.state))
    state = problems[0].state if problems else CheckState.OK
    summary = "; ".join(f.text for f in problems) if problems else _healthy_summary(figures)
    return CheckResult(
        state, f"MAILBRIDGE {state.name} - {_one_line(summary)} | {perfdata(figures, limits, now)}", problems
    )


def unknown_result(reason: str) -> CheckResult:
    """The check's answer when the configuration or the database cannot be read."""
    return CheckResult(CheckState.UNKNOWN, f"MAILBRIDGE UNKNOWN - {_one_line(reason)}", ())


def _mailbox_finding(mailbox: MailboxFigures, limits: MonitoringSettings, now: datetime) -> Finding | None:
    silent_since = mailbox.last_success_at or mailbox.failing_since
    silent = _seconds(now, silent_since) if silent_since else None
    critical = silent is not None and silent >= limits.sync_critical_minutes * 60
    if mailbox.failing_since is not None:
        error = _shorten(mailbox.last_error) or "no error recorded"
        synced = f"last synced {format_age(silent)} ago" if mailbox.last_success_at else "never synced"
        text = (
            f"mailbox {mailbox.name} failing for {format_age(_seconds(now, mailbox.failing_since))}, {synced}: {error}"
        )
        return Finding(CheckState.CRITICAL if critical else CheckState.WARNING, text)
    if silent is None:
        return Finding(CheckState.WARNING, f"mailbox {mailbox.name} has never synced")
    if critical:
        return Finding(CheckState.CRITICAL, f"mailbox {mailbox.name} last synced {format_age(silent)} ago")
    if silent >= limits.sync_warning_minutes * 60:
        return Finding(CheckState.WARNING, f"mailbox {mailbox.name} last synced {format_age(silent)} ago")
    return None


def _job_finding(job: FailingJob, limits: MonitoringSettings, now: datetime) -> Finding:
    """A failing daemon job (delivery, timers) warns at once, and is critical past sync_critical_minutes."""
    failing = _seconds(now, job.failing_since)
    text = f"job {job.name} failing for {format_age(failing)}: {_shorten(job.last_error) or 'no error recorded'}"
    critical = failing >= limits.sync_critical_minutes * 60
    return Finding(CheckState.CRITICAL if critical else CheckState.WARNING, text)


def _audit_finding(audit: AuditFigures, now: datetime) -> Finding | None:
    """WARNING while the mailbox's last audit found mail missing or not marked, or could not run: mail may be lost
    until a person looks (`mailboxes audit NAME --fix` mends it and keeps the clean result, which clears this)."""
    when = f"last audit ({format_age(_seconds(now, audit.ran_at))} ago)" if audit.ran_at else "last audit"
    if audit.error:
        return Finding(CheckState.WARNING, f"mailbox {audit.mailbox} {when} could not run: {_shorten(audit.error)}")
    counts = (
        (audit.missing, "missing"),
        (audit.marked_not_stored, "marked on the server but not stored"),
        (audit.stored_not_marked, "stored but not marked"),
    )
    found = ", ".join(f"{count} {what}" for count, what in counts if count)
    if not found:
        return None
    return Finding(
        CheckState.WARNING,
        f"mailbox {audit.mailbox} {when} found {found} (mailbridge mailboxes audit {audit.mailbox} --fix)",
    )


def fleet_findings(fleet: FleetFigures) -> list[Finding]:
    """WARNING for each daemon that stopped beating for a lease (hung, or killed without leaving), and, while a daemon
    lives, for each configured mailbox that nobody has held for a lease (the live ones take a free or expired lease
    at their next beat, a third of a lease, so a longer gap means no daemon polls it: none is configured with it)."""
    now, lease = fleet.checked_at, fleet.lease_seconds
    live = [d for d in fleet.daemons if is_live(d.last_beat_at, now, timedelta(seconds=lease))]
    found = [_silent_daemon(d, now, lease) for d in fleet.daemons if all(d.instance != a.instance for a in live)]
    if not live:
        return found
    running_since = min((d.started_at or now for d in live), default=now)
    leases = {lease_.mailbox: lease_ for lease_ in fleet.leases}
    for mailbox in fleet.mailboxes:
        free_since = _free_since(leases.get(mailbox), now, running_since)
        if free_since is not None and _seconds(now, free_since) >= lease:
            text = f"mailbox {mailbox} held by no daemon for {format_age(_seconds(now, free_since))}"
            found.append(Finding(CheckState.WARNING, text + f" while {len(live)} {_daemons(len(live))} run"))
    return found


def _silent_daemon(daemon: DaemonFigures, now: datetime, lease: float) -> Finding:
    """A daemon past its lease: what happened, and what removes its row (a hung daemon that wakes beats again)."""
    silent = _seconds(now, daemon.last_beat_at) if daemon.last_beat_at else None
    forget = FORGET_AFTER_LEASES * lease
    when = "past" if silent is None or silent >= forget else "once it is silent for"
    return Finding(
        CheckState.WARNING,
        f"daemon {daemon.host} pid {daemon.pid} "
        + (f"silent for {format_age(silent)}" if silent is not None else "never beat")
        + f", past its lease of {format_age(lease)}: hung, or killed without leaving; the next `mailbridge run` "
        + f"or `run --once` removes its row {when} {format_age(forget)}",
    )


def _free_since(lease: LeaseFigures | None, now: datetime, running_since: datetime) -> datetime | None:
    """Since when a mailbox has had no holder (None: it has one). Unknown (no row, or a free one never held): since
    the oldest live daemon started, which would have taken it if it polled it."""
    if lease is not None and lease.holder is not None and lease.expires_at is not None and lease.expires_at > now:
        return None
    if lease is not None and lease.expires_at is not None:
        return max(lease.expires_at, running_since)
    return running_since


def _daemons(count: int) -> str:
    return "daemon" if count == 1 else "daemons"


def _outbox_finding(figures: HealthFigures, limits: MonitoringSettings, now: datetime) -> Finding | None:
    if not figures.unsent or figures.oldest_unsent_at is None:
        return None
    age = _seconds(now, figures.oldest_unsent_at)
    text = f"{figures.unsent} {'mail' if figures.unsent == 1 else 'mails'} unsent, the oldest for {format_age(age)}"
    if age >= limits.outbox_critical_minutes * 60:
        return Finding(CheckState.CRITICAL, text)
    if age >= limits.outbox_warning_minutes * 60:
        return Finding(CheckState.WARNING, text)
    return None


def _count_finding(count: int, warning: int, critical: int, one: str, many: str) -> Finding | None:
    text = f"{count} {one if count == 1 else many}"
    if critical and count >= critical:
        return Finding(CheckState.CRITICAL, text)
    if warning and count >= warning:
        return Finding(CheckState.WARNING, text)
    return None


def _healthy_summary(figures: HealthFigures) -> str:
    count = len(figures.mailboxes)
    return (
        f"{count} {'mailbox' if count == 1 else 'mailboxes'} syncing, {figures.unsent} unsent, {figures.held} held, "
        f"{figures.quarantined} quarantined, {figures.sla_breached} past SLA"
    )


def perfdata(figures: HealthFigures, limits: MonitoringSettings, now: datetime) -> str:
    """The performance data: `'label'=value[unit];warn;crit;min` per figure (plugin guidelines)."""
    sync = (_threshold_seconds(limits.sync_warning_minutes), _threshold_seconds(limits.sync_critical_minutes))
    outbox = (_threshold_seconds(limits.outbox_warning_minutes), _threshold_seconds(limits.outbox_critical_minutes))
    items = [
        _perf(
            f"sync_age_{m.name}",
            f"{_seconds(now, m.last_success_at):.0f}s" if m.last_success_at else "U",
            *sync,
        )
        for m in figures.mailboxes
    ]
    oldest = _seconds(now, figures.oldest_unsent_at) if figures.unsent and figures.oldest_unsent_at else 0.0
    items += [
        _perf("unsent", str(figures.unsent), "", ""),
        _perf("oldest_unsent_age", f"{oldest:.0f}s", *outbox),
        _perf("held", str(figures.held), *_count_range(limits.held_warning_count, limits.held_critical_count)),
        _perf(
            "quarantined",
            str(figures.quarantined),
            *_count_range(limits.quarantined_warning_count, limits.quarantined_critical_count),
        ),
        _perf(
            "sla_breached",
            str(figures.sla_breached),
            *_count_range(limits.sla_breached_warning_count, limits.sla_breached_critical_count),
        ),
    ]
    return " ".join(items)


def _perf(label: str, value: str, warning: str, critical: str) -> str:
    # Plugin guidelines: a label with anything but letters, digits and _ is quoted, a quote in it doubled.
    quoted = label if label.replace("_", "").isalnum() else "'" + label.replace("'", "''") + "'"
    return f"{quoted}={value};{warning};{critical};0"


def _threshold_seconds(minutes: float) -> str:
    return f"{minutes * 60:.0f}"


def _count_range(warning: int, critical: int) -> tuple[str, str]:
    # A plugin range "N" alerts above N; our thresholds alert at N or more, so the range ends one below.
    return (str(warning - 1) if warning else "", str(critical - 1) if critical else "")


def format_age(seconds: float | None) -> str:
    """Say a duration briefly: 45s, 12m, 3h 5m, 2d 4h."""
    if seconds is None:
        return "never"
    whole = int(max(seconds, 0))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else f"{secs}s"


def _seconds(now: datetime, then: datetime) -> float:
    # A clock that went back (or a row written by a host ahead of us) is no age, not a negative one.
    return max((now - then).total_seconds(), 0.0)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _one_line(text: str) -> str:
    # The plugin output is one line, and "|" starts the performance data.
    return " ".join(text.split()).replace("|", "/")
