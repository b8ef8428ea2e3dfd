"""`mailbridge messages list|retry|dismiss`: stored mail that needs a person: quarantined, too large, malformed."""

from __future__ import annotations

import typer

from mailbridge.base.errors import CommandError
from mailbridge.cli.actor import act_on_each, admin_actor
from mailbridge.cli.common import echo_json, open_app, open_store
from mailbridge.decisions.kinds import MessageKind
from mailbridge.reports.messages import list_flagged_messages
from mailbridge.reports.render import visible_values
from mailbridge.store import db, flagged_messages

app = typer.Typer(no_args_is_help=True, help="Flagged messages.")


@app.command("list")
def list_messages(
    kind: str = typer.Option(
        None, help="Only this kind: quarantined, too_large, dismissed, forged_agent_reply, bounce ..."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List flagged messages (malformed, quarantined, too large, dismissed), newest first.

    Example: mailbridge messages list --kind quarantined
    """
    if kind and kind not in set(MessageKind):
        raise CommandError(f"--kind: expected one of {', '.join(MessageKind)}, got {kind!r}")
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

    A quarantined message that was dismissed can be retried too.

    Example: mailbridge messages retry 1234
    """
    from mailbridge.ingest.guard import retry_quarantined

    app_ = open_app()
    result = retry_quarantined(app_.engine, app_.inbox_named, message_id, app_.clock.now())
    typer.echo(
        f"message {message_id} stored as {result.message_row_id}"
        + (f" on ticket {result.ticket_number}" if result.ticket_number else "")
    )


@app.command("dismiss")
def dismiss(
    message_ids: list[int] = typer.Argument(..., metavar="ID...", help="Message ids, as `messages list` shows them."),
    actor: str = typer.Option(None, "--actor", help="Who dismisses, recorded with the time (admin:<login name>)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Acknowledge quarantined or too-large messages: kept raw with their reason, they no longer count as problems.

    They become `dismissed` (`messages list --kind dismissed` shows them, the reason and who dismissed them when);
    one line per message; a message of another kind is refused (an error line, exit 1) and the others are
    dismissed all the same. A dismissed quarantined message can still be retried (`messages retry ID`).

    Example: mailbridge messages dismiss 1234 1240
    """
    store, who = open_store(), admin_actor(actor)

    def dismiss_one(message_id: int) -> str:
        with db.transaction(store.engine) as session:
            return flagged_messages.dismiss(
                session=session, message_row_id=message_id, actor=who, now=store.clock.now()
            )

    act_on_each(
        message_ids,
        dismiss_one,
        done="dismissed",
        describe=lambda message_id, was: f"message {message_id} dismissed (was {was})",
        as_json=as_json,
    )
