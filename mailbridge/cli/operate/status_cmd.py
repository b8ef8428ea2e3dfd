"""`mailbridge status [--json]`: each mailbox's last successful poll and last error, and the outbox backlog."""

from __future__ import annotations

from dataclasses import asdict

import typer

from mailbridge.cli.common import echo_json, open_app
from mailbridge.reports.status import gather_status
from mailbridge.store import db


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show whether every mailbox syncs and how much mail waits to be sent.

    Example: mailbridge status --json
    """
    app = open_app()
    with db.transaction(app.engine) as session:
        report = gather_status(session=session, settings=app.settings)
    if as_json:
        echo_json(asdict(report))
        return
    for m in report.mailboxes:
        state = f"FAILING since {_when(m.failing_since)}, retry at {_when(m.retry_at)}" if m.failing_since else "ok"
        typer.echo(f"mailbox {m.name}: {state}; last successful poll {_when(m.last_success_at)}")
        if m.last_error:
            typer.echo(f"  last error ({_when(m.last_error_at)}): {m.last_error}")
        for folder, last_uid in m.folders.items():
            typer.echo(f"  folder {folder}: last uid {last_uid}")
    typer.echo(
        f"outbox: {report.outbox_depth} unsent, oldest {_when(report.oldest_unsent_at)}; {report.outbox_held} held"
    )


def _when(value) -> str:
    return value.isoformat(timespec="seconds") if value else "never"
