"""`mailbridge customers show EMAIL`: one customer's history; `customers block|unblock|blocked`: the blocklist;
`customers erase|export|erasures`: a person's data (privacy_cmd.py)."""

from __future__ import annotations

import typer

from mailbridge.base.errors import NotFoundError
from mailbridge.cli.common import echo_json, open_read, open_store
from mailbridge.cli.operate import privacy_cmd
from mailbridge.reports.render import display_zone, format_time, visible_values, with_local_times
from mailbridge.reports.search import customer_history
from mailbridge.reports.shop import shop_history, shop_lines
from mailbridge.store import blocklist, db

app = typer.Typer(no_args_is_help=True, help="Customers.")


@app.command("show")
def show(email: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show all tickets and messages of a customer, with counts and first and last contact.

    With a `[shop]`: the customer's orders, total spent and registration date, as last looked up.

    Example: mailbridge customers show anna@example.org --json
    """
    app_ = open_read()
    zone = display_zone(app_.settings)
    history = customer_history(app_.reader, email)
    if history is None:
        raise privacy_cmd.explained(
            NotFoundError(f"no customer with address {email.strip().lower()}"), app_.settings, email
        )
    shop = shop_history(app_.reader, history["email"], app_.settings.shop)
    if shop is not None:
        history["shop"] = shop
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
    if shop is not None:
        for line in shop_lines(visible_values(shop), format_time(shop["looked_up_at"], zone) or "-"):
            typer.echo(line)
    for ticket in history["tickets"]:
        typer.echo(
            f"  [#{ticket['number']}] {ticket['status']:<8} {format_time(ticket['created_at'], zone)}  {ticket['subject']}"
        )
    for message in history["messages"]:
        typer.echo(
            f"    {format_time(message['stored_at'], zone)} {message['direction']:<3} [#{message['ticket']}] {message['subject']}"
        )


@app.command("block")
def block(
    entry: str = typer.Argument(
        ..., help="An address (spam@example.com) or a domain with its subdomains (@example.com)."
    ),
    reason: str = typer.Option("", help="Why, shown by `customers blocked`."),
) -> None:
    """Block a sender: their mail is still stored, on a ticket with status spam, and causes no mail at all.

    No receipt, no notice and no agent notification; other automatic mail to them stops too. `#spam` in an agent's
    reply blocks the ticket's customer the same way.

    Example: mailbridge customers block @spam.example --reason "bulk offers"
    """
    store = open_store()
    with db.transaction(store.engine) as session:
        added = blocklist.block(session=session, entry=entry, reason=reason, actor="cli", now=store.clock.now())
    shown = blocklist.check_entry(entry)
    typer.echo(f"blocked {shown}" if added else f"{shown} was blocked already")


@app.command("unblock")
def unblock(entry: str = typer.Argument(..., help="The address or @domain, as `customers blocked` shows it.")) -> None:
    """Remove a sender from the blocklist; their next mail is handled as usual (their tickets stay as they are).

    Example: mailbridge customers unblock anna@example.org
    """
    store = open_store()
    with db.transaction(store.engine) as session:
        removed = blocklist.unblock(session=session, entry=entry)
    shown = blocklist.check_entry(entry)
    if not removed:
        raise NotFoundError(f"{shown} is not blocked (see `mailbridge customers blocked`)")
    typer.echo(f"unblocked {shown}")


@app.command("blocked")
def blocked(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the blocked addresses and domains, with when, by whom and why.

    Example: mailbridge customers blocked --json
    """
    store = open_store()
    zone = display_zone(store.settings)
    with db.transaction(store.engine) as session:
        rows = blocklist.list_blocked(session)
    if as_json:
        echo_json(with_local_times(rows, zone))
        return
    if not rows:
        typer.echo("no blocked senders")
    for row in visible_values(rows):
        why = f"  {row['reason']}" if row["reason"] else ""
        typer.echo(f"{row['entry']:<40} {format_time(row['created_at'], zone)}  {row['actor']}{why}")


# A person's data (GDPR): erase, export and the audit records, in privacy_cmd.py.
app.command("erase")(privacy_cmd.erase)
app.command("export")(privacy_cmd.export)
app.command("erasures")(privacy_cmd.erasures)
