"""`mailbridge outbox list|retry|cancel`: see, re-queue and give up outgoing mail."""

from __future__ import annotations

import typer

from mailbridge.base.errors import CommandError, NotFoundError
from mailbridge.cli.actor import act_on_each, admin_actor
from mailbridge.cli.common import echo_json, open_store
from mailbridge.decisions.kinds import OutboxStatus
from mailbridge.reports.outbox import list_outbox as list_outbox_rows
from mailbridge.reports.render import visible_values
from mailbridge.store import db, outbox_queue, waiting_answers

app = typer.Typer(no_args_is_help=True, help="Outgoing mail.")


@app.command("list")
def list_outbox(
    status: str = typer.Option(
        None, help="Only items with this status (queued, sending, sent, held, cancelled, bounced)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List outgoing mail, newest first.

    Example: mailbridge outbox list --status held
    """
    if status and status not in set(OutboxStatus):
        raise CommandError(f"--status: expected one of {', '.join(OutboxStatus)}, got {status!r}")
    with db.transaction(open_store().engine) as session:
        rows = list_outbox_rows(session=session, status=status)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("outbox is empty")
    for r in visible_values(rows):
        # A cancelled item's last_error says who cancelled it and when, then the error it had.
        label = "" if r["status"] == OutboxStatus.CANCELLED else "error: "
        error = f"  {label}{r['last_error']}" if r["last_error"] else ""
        typer.echo(
            f"{r['id']:>5} {r['status']:<9} {r['kind']:<10} {r['to']:<30} tries {r['attempts']}  {r['subject']}{error}"
        )


@app.command("retry")
def retry(
    outbox_id: int,
    resend: bool = typer.Option(
        False, "--resend", help="Send mail that was sent (or bounced) already once more: the same bytes."
    ),
) -> None:
    """Re-queue one outgoing mail (held, queued or cancelled) for an attempt now.

    Mail sent or bounced already is refused unless `--resend` asks for a second copy by name; mail being sent now
    is refused (a dead sender's claim runs out and the mail is tried again by itself). An agent's answer taken
    back in its undo window (`#cancel`, `tickets cancel`, `outbox cancel`) is refused: it is kept as a note and
    never sent; the agent answers the ticket again instead.

    Example: mailbridge outbox retry 42
    """
    app_ = open_store()
    with db.transaction(app_.engine) as session:
        row = outbox_queue.requeue(session=session, outbox_id=outbox_id, now=app_.clock.now(), resend=resend)
        if row is None:
            raise NotFoundError(f"no outbox item with id {outbox_id}")
    typer.echo(f"outbox item {outbox_id} queued")


@app.command("cancel")
def cancel(
    outbox_ids: list[int] = typer.Argument(..., metavar="ID...", help="Outbox item ids, as `outbox list` shows them."),
    actor: str = typer.Option(None, "--actor", help="Who cancels, recorded with the time (admin:<login name>)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Give up unsent mail (queued, held or being sent): it is never sent afterwards and no longer counts as held.

    One line per item; an item that is sent, bounced or cancelled already is refused (an error line, exit 1) and
    the others are cancelled all the same. `outbox retry ID` puts a cancelled mail back in line. An agent's answer
    waiting out its undo window is taken back with it (kept as a note on the ticket, its status change dropped),
    for good: `outbox retry` refuses it.

    Example: mailbridge outbox cancel 42 43
    """
    store, who = open_store(), admin_actor(actor)

    def cancel_one(outbox_id: int) -> str:
        with db.transaction(store.engine) as session:
            now = store.clock.now()
            was = outbox_queue.cancel(session=session, outbox_id=outbox_id, actor=who, now=now)
            # An agent's answer in its undo window is taken back with it (kept as a note), as `tickets cancel` does.
            waiting_answers.end_cancelled(session, outbox_id=outbox_id, actor=who, now=now)
            return was

    def describe(outbox_id: int, was: str) -> str:
        in_flight = ": a send already under way may still deliver it" if was == OutboxStatus.SENDING else ""
        return f"outbox item {outbox_id} cancelled (was {was}{in_flight})"

    act_on_each(outbox_ids, cancel_one, done="cancelled", describe=describe, as_json=as_json)
