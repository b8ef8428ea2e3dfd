"""`mailbridge messages list|retry`: stored mail that needs a person: quarantined, too large, malformed."""

from __future__ import annotations

import typer
from sqlmodel import Session, or_, select

from mailbridge.cli.common import echo_json, open_app
from mailbridge.ingest.guard import retry_quarantined
from mailbridge.store.models import Message

app = typer.Typer(no_args_is_help=True, help="Flagged messages.")


@app.command("list")
def list_messages(
    kind: str = typer.Option(None, help="Only this kind: quarantined, too_large, forged_agent_reply, bounce ..."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List flagged messages (malformed, quarantined, too large), newest first.

    Example: mailbridge messages list --kind quarantined
    """
    with Session(open_app().engine) as session:
        query = select(Message).order_by(Message.id.desc())
        query = query.where(Message.kind == kind) if kind else query.where(or_(
            Message.is_malformed, Message.kind.in_(("quarantined", "too_large", "forged_agent_reply"))))
        rows = [{"id": m.id, "kind": m.kind, "mailbox": m.mailbox, "folder": m.folder, "uid": m.uid,
                 "from": m.from_addr, "subject": m.subject, "ticket_id": m.ticket_id, "raw_bytes": len(m.raw),
                 "stored_at": m.stored_at, "defects": m.defects.splitlines()} for m in session.exec(query)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("no flagged messages")
    for r in rows:
        reason = r["defects"][0] if r["defects"] else ""
        typer.echo(f"{r['id']:>6} {r['kind']:<18} {r['mailbox'] or '-'}:{r['uid'] or '-'}  {r['from'] or '?'}  "
                   f"{r['subject'][:40]}  {reason}")


@app.command("retry")
def retry(message_id: int) -> None:
    """Run a quarantined message through intake again (it stays quarantined if it fails again).

    Example: mailbridge messages retry 1234
    """
    app_ = open_app()
    result = retry_quarantined(app_.engine, app_.inbox_named, message_id, app_.clock.now())
    typer.echo(f"message {message_id} stored as {result.message_row_id}"
               + (f" on ticket {result.ticket_number}" if result.ticket_number else ""))
