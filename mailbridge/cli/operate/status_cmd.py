"""`mailbridge status [--json | --check]`: each mailbox's last successful poll and last error, and the outbox backlog.

`--check` is a monitoring plugin (Nagios/Icinga): one line and the exit code of the state (decisions/monitoring.py).
"""

from __future__ import annotations

from dataclasses import asdict, replace

import typer

from mailbridge.base.clock import SystemClock
from mailbridge.base.errors import MailbridgeError
from mailbridge.cli.common import echo_json, open_read
from mailbridge.decisions.leases import FORGET_AFTER_LEASES
from mailbridge.decisions.monitoring import CheckResult, evaluate_health, unknown_result
from mailbridge.reports.daemons import fleet_figures, gather_daemons
from mailbridge.reports.render import display_zone, format_time
from mailbridge.reports.status import AuditStatus, contact_address_warnings, gather_status, health_figures


def status(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    check: bool = typer.Option(
        False,
        "--check",
        help="Monitoring plugin: print one line `MAILBRIDGE OK|WARNING|CRITICAL|UNKNOWN - ...` and exit 0|1|2|3.",
    ),
) -> None:
    """Show whether every mailbox syncs and how much mail waits to be sent.

    Example: mailbridge status --json
    """
    if check:
        result = _check()
        typer.echo(result.line)
        raise typer.Exit(int(result.state))
    app = open_read()
    report = gather_status(reader=app.reader, settings=app.settings)
    warnings = contact_address_warnings(app.reader, app.settings)
    # Beats are real time on every host: judged by the real clock, never by MAILBRIDGE_NOW (like --check).
    daemons = gather_daemons(app.reader, app.settings.daemon.lease_seconds, SystemClock().now())
    if as_json:
        echo_json({**asdict(report), "daemons": [asdict(d) for d in daemons], "warnings": warnings})
        return
    zone = display_zone(app.settings)

    def _when(value) -> str:
        return format_time(value, zone) if value else "never"

    for m in report.mailboxes:
        state = f"FAILING since {_when(m.failing_since)}, retry at {_when(m.retry_at)}" if m.failing_since else "ok"
        typer.echo(f"mailbox {m.name}: {state}; last successful poll {_when(m.last_success_at)}")
        if m.last_error:
            typer.echo(f"  last error ({_when(m.last_error_at)}): {m.last_error}")
        for folder, last_uid in m.folders.items():
            typer.echo(f"  folder {folder}: last uid {last_uid}")
        if m.audit is not None:
            typer.echo(f"  {audit_line(m.audit, _when(m.audit.ran_at))}")
    for job in report.jobs:
        state = (
            f"FAILING since {_when(job.failing_since)}, retry at {_when(job.retry_at)}" if job.failing_since else "ok"
        )
        typer.echo(f"job {job.name}: {state}; last success {_when(job.last_success_at)}")
        if job.failing_since and job.last_error:
            typer.echo(f"  last error ({_when(job.last_error_at)}): {job.last_error}")
    for d in daemons:
        holds = ", ".join(d.mailboxes) or "no mailbox"
        if d.state == "running":
            typer.echo(
                f"daemon {d.host} pid {d.pid}: running since {_when(d.started_at)}, last beat {_when(d.last_beat_at)}"
            )
        else:
            typer.echo(
                f"daemon {d.host} pid {d.pid}: stopped (hung, or killed without leaving): last beat "
                f"{_when(d.last_beat_at)}, older than its lease; the next `mailbridge run` removes the row "
                f"{FORGET_AFTER_LEASES} leases after that beat"
            )
        typer.echo(f"  holds {holds} (instance {d.instance})")
    typer.echo(
        f"outbox: {report.outbox_depth} unsent, oldest {_when(report.oldest_unsent_at)}; {report.outbox_held} held"
    )
    typer.echo(f"messages: {report.quarantined} quarantined, {report.too_large} too large (mailbridge messages list)")
    for line in warnings:
        typer.echo(f"warning: {line}")


def audit_line(audit: AuditStatus, ran_at: str) -> str:
    """`audit 2026-01-06 03:00:00 +01:00: 0 missing` or what it found (`mailboxes audit NAME` lists it)."""
    if audit.error:
        return f"audit {ran_at}: FAILED: {audit.error}"
    if not audit.problems:
        return f"audit {ran_at}: 0 missing; nothing lost ({audit.not_yet_polled} not yet polled)"
    return (
        f"audit {ran_at}: {audit.missing} missing, {audit.marked_not_stored} marked on the server but not stored, "
        f"{audit.stored_not_marked} stored but not marked (mailbridge mailboxes audit NAME lists them, --fix mends)"
    )


def _check() -> CheckResult:
    """Gather and decide the check; a configuration or database that cannot be read is UNKNOWN, never a traceback."""
    try:
        # Imported inside the check: a broken installation is UNKNOWN too, not a traceback.
        from mailbridge.decisions.business_hours import build_calendar

        app = open_read()
        now = app.clock.now()
        calendar = build_calendar(app.settings.sla, range(now.year - 1, now.year + 2))
        report = gather_status(reader=app.reader, settings=app.settings, now=now, calendar=calendar)
        names = tuple(m.name for m in app.settings.mailboxes)
        # Beats and leases are real time on every host: judged by the real clock, never by MAILBRIDGE_NOW.
        fleet = fleet_figures(app.reader, names, app.settings.daemon.lease_seconds, SystemClock().now())
        return evaluate_health(replace(health_figures(report), fleet=fleet), app.settings.monitoring, now)
    except Exception as exc:  # noqa: BLE001 - the check's own CLI boundary: UNKNOWN and exit 3 (plugin convention)
        return unknown_result(str(exc) if isinstance(exc, MailbridgeError) else _describe(exc))


def _describe(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
