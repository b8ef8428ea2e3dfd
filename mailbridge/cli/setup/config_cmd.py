"""`mailbridge config check`: print the resolved configuration with secrets masked, and warn of unreachable Contacts."""

from __future__ import annotations

import typer

from mailbridge.base.config.settings import Settings, masked
from mailbridge.base.errors import ConfigError
from mailbridge.cli.common import echo_json, settings, state
from mailbridge.decisions.own_addresses import undelivered_contacts
from mailbridge.runtime.app import build_app
from mailbridge.store import contacts, db

app = typer.Typer(no_args_is_help=True, help="Check the configuration.")


@app.command("check")
def check() -> None:
    """Validate mailbridge.toml and print it resolved, secrets masked; warn of Contacts whose mail cannot come back.

    Example: mailbridge --config /etc/mailbridge/mailbridge.toml config check
    """
    current = settings()
    echo_json(masked(current))
    for line in contact_warnings(current):
        typer.echo(f"mailbridge: warning: {line}", err=True)


def contact_warnings(current: Settings) -> list[str]:
    """One line per Contact whose address no polled mailbox receives (the database is opened as `run` opens it)."""
    try:
        app_ = build_app(current, clock=state.clock)
    except ConfigError as exc:
        return [f"contact addresses not checked: {exc}"]
    with db.transaction(app_.engine) as session:
        # A forward-only Contact's address is where its mail goes, not one that must come back to us.
        known = [(c.name, c.address) for c in contacts.contact_addresses(session) if c.save_messages]
    return [
        f"contact {name!r} ({address}): no [[mailboxes]] table receives this address (as its login or in its "
        "`addresses`), so replies to its mail never come back"
        for name, address in undelivered_contacts(known, current.mailboxes)
    ]
