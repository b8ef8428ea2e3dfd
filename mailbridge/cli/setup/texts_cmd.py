"""`mailbridge texts add|list|show|edit|remove`: canned answers per Contact and locale, used by `#text NAME`."""

from __future__ import annotations

from pathlib import Path

import typer

from mailbridge.cli.common import echo_json, open_store, read_text_option
from mailbridge.reports.agents import list_text_modules, read_text_module
from mailbridge.store import agents, contacts, db

app = typer.Typer(no_args_is_help=True, help="Text modules (canned answers) of the Contacts.")
CONTACT = typer.Option("Customer service", "--contact", help="The Contact, by name.")
LOCALE = typer.Option("en", "--locale", help="Language: en, it, cs, el, de.")
FILE = typer.Option(..., "--file", help="File with the text (Jinja2: {{ customer.name }}, {{ ticket.number }}).")


def _save(name: str, contact: str, locale: str, file: Path, is_new: bool) -> None:
    body = read_text_option("--file", str(file))
    with db.transaction(open_store().engine) as session:
        agents.save_text_module(
            session=session,
            contact=contacts.find_contact(session, contact),
            name=name,
            locale=locale,
            body=body,
            is_new=is_new,
        )


@app.command("add")
def add(name: str, file: Path = FILE, contact: str = CONTACT, locale: str = LOCALE) -> None:
    """Add a text module.

    Example: mailbridge texts add returns --file returns.txt --contact "Customer service" --locale en
    """
    _save(name, contact, locale, file, is_new=True)
    typer.echo(f"text module {name} ({locale}) added")


@app.command("edit")
def edit(name: str, file: Path = FILE, contact: str = CONTACT, locale: str = LOCALE) -> None:
    """Replace a text module's text.

    Example: mailbridge texts edit returns --file returns.txt
    """
    _save(name, contact, locale, file, is_new=False)
    typer.echo(f"text module {name} ({locale}) changed")


@app.command("list")
def list_texts(
    contact: str = typer.Option(None, "--contact", help="Only this Contact."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List text modules.

    Example: mailbridge texts list --contact "Customer service"
    """
    with db.transaction(open_store().engine) as session:
        rows = list_text_modules(session=session, contact_name=contact)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['contact']:<20} {row['name']:<24} {row['locale']}  {row['chars']} chars")


@app.command("show")
def show(name: str, contact: str = CONTACT, locale: str = LOCALE) -> None:
    """Print one text module.

    Example: mailbridge texts show returns --locale it
    """
    with db.transaction(open_store().engine) as session:
        body = read_text_module(session=session, contact_name=contact, name=name, locale=locale)
    typer.echo(body)


@app.command("remove")
def remove(name: str, contact: str = CONTACT, locale: str = LOCALE) -> None:
    """Delete a text module.

    Example: mailbridge texts remove returns --locale it
    """
    with db.transaction(open_store().engine) as session:
        agents.remove_text_module(
            session=session, contact=contacts.find_contact(session, contact), name=name, locale=locale
        )
    typer.echo(f"text module {name} ({locale}) removed")
