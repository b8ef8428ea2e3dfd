"""`mailbridge outbox list|retry`: see and re-queue outgoing mail."""

from __future__ import annotations

import typer

from mailbridge.base.errors import NotFoundError
from mailbridge.cli.common import echo_json, open_store
from mailbridge.reports.outbox import list_outbox as list_outbox_rows
from mailbridge.reports.render import visible_values
from mailbridge.store import db, outbox_queue

app = typer.Typer(no_args_is_help=True, help="Outgoing mail.")


@app.command("list")
def list_outbox(
    status: str = typer.Option(None, help="Only items with this status (queued, sending, sent, held)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List outgoing mail, newest first.

    Example: mailbridge outbox list --status held
    """
    with db.transaction(open_store().engine) as session:
        rows = list_outbox_rows(session=session, status=status)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("outbox is empty")
    for r in visible_values(rows):
        error = f"  error: {r['last_error']}" if r["last_error"] else ""
        typer.echo(
            f"{r['id']:>5} {r['status']:<8} {r['kind']:<10} {r['to']:<30} tries {r['attempts']}  {r['subject']}{error}"
        )


@app.command("retry")
def retry(outbox_id: int) -> None:
    """Re-queue one outgoing mail for an attempt now.

    Example: mailbridge outbox retry 42
    """
    app_ = open_store()
    with db.transaction(app_.engine) as session:
        row = outbox_queue.requeue(session=session, outbox_id=outbox_id, now=app_.clock.now())
        if row is None:
            raise NotFoundError(f"no outbox item with id {outbox_id}")
    typer.echo(f"outbox item {outbox_id} queued")
