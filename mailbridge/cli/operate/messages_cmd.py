"""`mailbridge messages list|retry`: stored mail that needs a person: quarantined, too large, malformed."""

from __future__ import annotations

import typer

from mailbridge.cli.common import echo_json, open_app, open_store
from mailbridge.ingest.guard import retry_quarantined
from mailbridge.reports.messages import list_flagged_messages
from mailbridge.reports.render import visible_values
from mailbridge.store import db

app = typer.Typer(no_args_is_help=True, help="Flagged messages.")


@app.command("list")
def list_messages(
    kind: str = typer.Option(None, help="Only this kind: quarantined, too_large, forged_agent_reply, bounce ..."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List flagged messages (malformed, quarantined, too large), newest first.

    Example: mailbridge messages list --kind quarantined
    """
    with db.transaction(open_store().engine) as session:
        rows = list_flagged_messages(session=session, kind=kind)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("no flagged messages")
    for r in visible_values(rows):
        reason = r["defects"][0] if r["defects"] else ""
        typer.echo(
            f"{r['id']:>6} {r['kind']:<18} {r['mailbox'] or '-'}:{r['uid'] or '-'}  {r['from'] or '?'}  "
            f"{r['subject'][:40]}  {reason}"
        )


@app.command("retry")
def retry(message_id: int) -> None:
    """Run a quarantined message through intake again (it stays quarantined if it fails again).

    Example: mailbridge messages retry 1234
    """
    app_ = open_app()
    result = retry_quarantined(app_.engine, app_.inbox_named, message_id, app_.clock.now())
    typer.echo(
        f"message {message_id} stored as {result.message_row_id}"
        + (f" on ticket {result.ticket_number}" if result.ticket_number else "")
    )
