"""`mailbridge agents add|list|edit|remove`: the people who answer tickets from their mail client."""

from __future__ import annotations

import typer

from mailbridge.cli.common import echo_json, open_app, open_store
from mailbridge.reports.agents import list_agents as list_agent_rows
from mailbridge.store import agents, db

app = typer.Typer(no_args_is_help=True, help="Agents.")


@app.command("add")
def add(
    email: str,
    name: str = typer.Option("", help="Display name."),
    contact: list[str] = typer.Option([], "--contact", help="A Contact the agent belongs to (repeatable)."),
    locale: str = typer.Option(
        None, help="Language of the mails the agent gets (default: the Contact's, else [support] default_locale)."
    ),
) -> None:
    """Add an agent.

    Example: mailbridge agents add maria@shop.example --name "Maria Rossi" --contact "Customer service"
    """
    # With --contact, first create the configured mailboxes' Contacts that `run` would create (`create_contact`, or
    # the default "Customer service"): on a database just made by `db upgrade`, `--contact "Customer service"`
    # must find the Contact the configuration promises.
    app_ = open_app() if contact else open_store()
    with db.transaction(app_.engine) as session:
        agent = agents.add_agent(
            session=session, email=email, name=name, locale=locale, contacts=contact, now=app_.clock.now()
        )
    typer.echo(f"agent {agent.email} added")


@app.command("list")
def list_agents(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List agents with their Contacts.

    Example: mailbridge agents list --json
    """
    with db.transaction(open_store().engine) as session:
        rows = list_agent_rows(session=session)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("no agents")
    for row in rows:
        flag = "" if row["active"] else "  (inactive)"
        typer.echo(f"{row['email']:<32} {row['name']:<24} {', '.join(row['contacts']) or '-'}{flag}")


@app.command("edit")
def edit(
    email: str,
    name: str = typer.Option(None, help="New display name."),
    new_email: str = typer.Option(None, "--email", help="New address."),
    active: bool | None = typer.Option(None, "--active/--inactive", help="Inactive agents get no mail."),
    locale: str = typer.Option(None, help='Language of their mails; "" for the default.'),
) -> None:
    """Change an agent.

    Example: mailbridge agents edit maria@shop.example --inactive
    """
    with db.transaction(open_store().engine) as session:
        agent = agents.edit_agent(
            session=session, email=email, name=name, new_email=new_email, active=active, locale=locale
        )
    typer.echo(f"agent {agent.email} changed")


@app.command("remove")
def remove(email: str) -> None:
    """Remove an agent; their tickets become unassigned.

    Example: mailbridge agents remove maria@shop.example
    """
    with db.transaction(open_store().engine) as session:
        agents.remove_agent(session=session, email=email)
    typer.echo(f"agent {email.strip().lower()} removed")
