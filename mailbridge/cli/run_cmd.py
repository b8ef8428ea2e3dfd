"""`mailbridge run [--once]`: the daemon, or one full cycle for cron and tests."""

from __future__ import annotations

import asyncio

import typer

from mailbridge.cli.common import open_app
from mailbridge.daemon import serve
from mailbridge.errors import SourceError
from mailbridge.scheduler import run_cycle


def run(once: bool = typer.Option(False, "--once", help="Poll every mailbox, send what is due, and exit.")) -> None:
    """Run the daemon: poll mailboxes and send the outbox on a schedule.

    Example: mailbridge run --once
    """
    app = open_app()
    if not once:
        asyncio.run(serve(app))
        return
    report = asyncio.run(run_cycle(app))
    for poll in report.polls:
        typer.echo(f"{poll.mailbox}: fetched {poll.fetched}, stored {poll.stored}, "
                   f"already stored {poll.duplicates}, failed {poll.failed}")
    typer.echo(f"outbox: sent {report.sent}, failed {report.failed}")
    if report.errors:
        raise SourceError(report.errors[0] if len(report.errors) == 1 else "; ".join(report.errors))
