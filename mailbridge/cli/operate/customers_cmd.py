"""`mailbridge customers show EMAIL`: one customer's history."""

from __future__ import annotations

import typer

from mailbridge.base.errors import NotFoundError
from mailbridge.cli.common import echo_json, open_store
from mailbridge.reports.render import display_zone, format_time, visible_values, with_local_times
from mailbridge.reports.search import customer_history
from mailbridge.store import db

app = typer.Typer(no_args_is_help=True, help="Customers.")


@app.command("show")
def show(email: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show all tickets and messages of a customer, with counts and first and last contact.

    Example: mailbridge customers show anna@example.org --json
    """
    app_ = open_store()
    zone = display_zone(app_.settings)
    with db.transaction(app_.engine) as session:
        history = customer_history(session, email)
    if history is None:
        raise NotFoundError(f"no customer with address {email.strip().lower()}")
    if as_json:
        echo_json(with_local_times(history, zone))
        return
    history = visible_values(history)
    typer.echo(f"{history['name']} <{history['email']}>")
    typer.echo(
        f"  {history['ticket_count']} tickets ({history['open_ticket_count']} not closed), "
        f"{history['message_count']} messages; first contact {format_time(history['first_contact'], zone)}, "
        f"last contact {format_time(history['last_contact'], zone)}"
    )
    for ticket in history["tickets"]:
        typer.echo(
            f"  [#{ticket['number']}] {ticket['status']:<8} {format_time(ticket['created_at'], zone)}  {ticket['subject']}"
        )
    for message in history["messages"]:
        typer.echo(
            f"    {format_time(message['stored_at'], zone)} {message['direction']:<3} [#{message['ticket']}] {message['subject']}"
        )
