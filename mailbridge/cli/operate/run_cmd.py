"""`mailbridge run [--once]`: the daemon, or one full cycle for cron and tests."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from mailbridge.base.clock import system_clock
from mailbridge.base.config.settings import Settings
from mailbridge.base.errors import CommandError, SourceError
from mailbridge.base.logs import use_log_format
from mailbridge.cli.common import echo_json, open_app, settings, state
from mailbridge.runtime.outcomes import CycleReport
from mailbridge.runtime.run_lock import run_lock

log = logging.getLogger(__name__)
POLL_COUNTS = ("fetched", "stored", "duplicates", "failed", "vanished")


def unchecked_certificates(settings: Settings) -> list[str]:
    """The connections whose TLS certificate is not checked: `[smtp]` and `[[mailboxes]] NAME`."""
    tables = [("[smtp]", settings.smtp.connection)]
    tables += [(f"[[mailboxes]] {m.name}", m.connection) for m in settings.mailboxes]
    return [name for name, c in tables if c.security != "plain" and not c.validate_cert]


def run(
    once: bool = typer.Option(False, "--once", help="Poll every mailbox, send what is due, and exit."),
    log_format: str = typer.Option("text", "--log-format", help="text | json (one JSON object per line)."),
    health_file: Path = typer.Option(None, "--health-file", help="Write the status as JSON here after each cycle."),
    as_json: bool = typer.Option(False, "--json", help="With --once: print what the cycle did as JSON."),
) -> None:
    """Run the daemon: poll mailboxes and send the outbox on a schedule; SIGHUP reloads, SIGTERM stops.

    With --once --json, one object on stdout (a mailbox whose poll failed has "ok": false, its "error" and null
    counts; any error still prints one line on stderr and exits 1; a mailbox a daemon holds on PostgreSQL is not
    polled, with null counts and "skipped": "held by daemon HOST:PID"):

      {"mailboxes": [{"mailbox": "support", "ok": true, "fetched": 3,
        "stored": 2, "duplicates": 1, "failed": 0, "vanished": 0,
        "error": null, "skipped": null}], "outbox": {"sent": 2, "failed": 0}, "errors": []}

    --once beside daemons: on PostgreSQL it polls only the mailboxes no daemon holds (one line names each one
    skipped); on SQLite it refuses while a daemon runs (exit 2), and a daemon started meanwhile is refused.

    Example: mailbridge run --log-format json --health-file /run/mailbridge/health.json

    Example: mailbridge run --once --json
    """
    if log_format not in ("text", "json"):
        raise CommandError(f"--log-format: expected text or json, got {log_format!r}")
    if as_json and not once:
        raise CommandError("--json: only with --once (the daemon logs; --log-format json for JSON lines)")
    use_log_format(log_format)
    current = settings()
    for where in unchecked_certificates(current):
        log.warning(
            "certificate validation is off for %s (validate_cert = false): anyone on the path can read it", where
        )
    if not once:
        _full_run(once, health_file)
        return  # the daemon stopped
    # On SQLite a daemon beside it would poll the same mailboxes: refused, and a daemon started meanwhile is refused.
    with run_lock(current.database.connect_url(), "once"):
        report = _idle_cycle(current) if not health_file else None
        if report is None:
            report = _full_run(once, health_file)
            assert report is not None
    if as_json:
        echo_json(cycle_as_json(current, report))
    else:
        echo_cycle(report)
    if report.errors:
        raise SourceError(report.errors[0] if len(report.errors) == 1 else "; ".join(report.errors))


def _idle_cycle(current: Settings) -> CycleReport | None:
    """The cycle of an idle installation, without loading the runtime (runtime/idle_cycle.py); None: run it all."""
    from mailbridge.runtime.idle_cycle import idle_cycle

    return idle_cycle(current, state.clock or system_clock())


def _full_run(once: bool, health_file: Path | None) -> CycleReport | None:
    """Build the runtime (upgrading the schema) and run the daemon, or one full cycle with --once."""
    from mailbridge.cli.progress import terminal_progress
    from mailbridge.runtime.daemon import serve
    from mailbridge.runtime.health import write_health_file
    from mailbridge.runtime.jobs import run_once

    app = open_app(migrate=True)  # `run` upgrades the schema (with `init` and `db upgrade`)
    if not once:
        asyncio.run(serve(app, health_file=health_file))
        return None
    app.progress = terminal_progress()
    report = asyncio.run(run_once(app))
    if health_file:
        write_health_file(app, health_file, app.clock.now(), report.errors[0] if report.errors else None)
    return report


def echo_cycle(report: CycleReport) -> None:
    """Print what `run --once` did: one line per mailbox polled or skipped, one for the outbox."""
    for poll in report.polls:
        vanished = f", vanished {poll.vanished}" if poll.vanished else ""
        typer.echo(
            f"{poll.mailbox}: fetched {poll.fetched}, stored {poll.stored}, "
            f"already stored {poll.duplicates}, failed {poll.failed}{vanished}"
        )
    for skipped in report.skipped:
        typer.echo(f"mailbox {skipped.mailbox}: {skipped.reason}, skipped")
    typer.echo(f"outbox: sent {report.sent}, failed {report.failed}")


def cycle_as_json(settings: Settings, report: CycleReport) -> dict:
    """The `run --once --json` object: every configured mailbox in order, the outbox, the error lines."""
    # A mailbox's poll gives either a result or one error line, in the order of the configuration; a mailbox another
    # process holds is skipped (not polled, no error: "ok" true, null counts, "skipped" says why).
    done = {poll.mailbox: poll for poll in report.polls}
    skipped = {s.mailbox: s.reason for s in report.skipped}
    errors = iter(report.errors)
    rows = []
    for mailbox in settings.mailboxes:
        poll = done.get(mailbox.name)
        counts = {key: getattr(poll, key) if poll else None for key in POLL_COUNTS}
        reason = skipped.get(mailbox.name) if poll is None else None
        error = None if poll or reason else next(errors, None)
        ok = poll is not None or reason is not None
        rows.append({"mailbox": mailbox.name, "ok": ok, **counts, "error": error, "skipped": reason})
    outbox = {"sent": report.sent, "failed": report.failed}
    return {"mailboxes": rows, "outbox": outbox, "errors": list(report.errors)}
