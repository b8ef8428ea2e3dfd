"""`mailbridge config check`: print the resolved configuration with secrets masked, and warn of unreachable Contacts."""

from __future__ import annotations

import typer

from mailbridge.base.config.settings import Settings, masked
from mailbridge.base.errors import ConfigError, SchemaError
from mailbridge.cli.common import echo_json, settings, state
from mailbridge.reports.status import contact_address_warnings
from mailbridge.runtime.app import build_app, check_contacts_of
from mailbridge.store import contacts, db
from mailbridge.store.reader import reader_of

app = typer.Typer(no_args_is_help=True, help="Check the configuration.")


@app.command("check")
def check() -> None:
    """Validate mailbridge.toml and print it resolved, secrets masked; warn of Contacts whose mail cannot come back.

    Example: mailbridge --config /etc/mailbridge/mailbridge.toml config check
    """
    current = settings()
    warnings = contact_warnings(current)  # an unknown Contact is an error, found before anything is printed
    warnings += authentication_warnings(current)
    echo_json(masked(current))
    for line in warnings:
        typer.echo(f"mailbridge: warning: {line}", err=True)


def authentication_warnings(current: Settings) -> list[str]:
    """One line when agents' mail is trusted on its signed reply address alone (no `[support] authserv_id`)."""
    if current.support.secret is None or current.support.authserv_id is not None:
        return []
    return [
        "[support] authserv_id is not set: an agent's reply is trusted on its signed reply address (the agent "
        "token) alone, and only a DKIM, SPF or DMARC failure in the topmost Authentication-Results refuses it"
    ]


def sla_contact_problems(current: Settings, known: set[str]) -> list[str]:
    """One line per `[sla.contacts."NAME"]` naming a Contact neither the database nor a mailbox has (a typo)."""
    known = known | {mailbox.contact for mailbox in current.mailboxes}
    return [
        f'[sla.contacts."{name}"]: expected the name of a Contact ({", ".join(sorted(known)) or "none"}), got {name!r}'
        for name, _ in current.sla.contacts
        if name not in known
    ]


def contact_warnings(current: Settings) -> list[str]:
    """One line per Contact whose address no polled mailbox receives (the database is opened as `run` opens it).

    Raises: ConfigError when a mailbox names an unknown Contact without `create_contact = true`, as `run` would,
    when a Contact names an `[smtp.NAME]` the file does not have or a template directory that is gone, and when an
    `[sla.contacts."NAME"]` names no Contact.
    """
    try:
        app_ = build_app(current, clock=state.clock, check_contacts=False, migrate=False)
    except (ConfigError, SchemaError) as exc:
        return [f"contact addresses not checked: {exc}"]
    check_contacts_of(app_.engine, current)
    with db.transaction(app_.engine) as session:
        profiles = tuple(profile.name for profile in current.smtp.profiles)
        brand_lines = contacts.brand_problems(session, profiles)
        brand_lines += sla_contact_problems(current, contacts.contact_names(session))
        if brand_lines:
            raise ConfigError(f"{current.path}: {brand_lines[0]}")
        return contact_address_warnings(reader_of(session), current)
