"""`mailbridge mailboxes list|test|add|remove` (and `imap test`): the IMAP side of the configuration.

`add` and `remove` edit mailbridge.toml in place with tomlkit, keeping its comments; `test` logs in
and reports TLS, certificate, capabilities and folders, or one line saying what failed.
"""

from __future__ import annotations

import typer

from mailbridge.base.config.edit import add_mailbox, remove_mailbox
from mailbridge.base.config.settings import find_config
from mailbridge.base.errors import NotFoundError, SourceError
from mailbridge.cli.common import echo_json, settings, state
from mailbridge.ingest.sources.probe import describe_probe, probe_mailbox

app = typer.Typer(no_args_is_help=True, help="IMAP mailboxes: list, test, add, remove.")
imap_app = typer.Typer(no_args_is_help=True, help="The IMAP side (alias of `mailboxes`).")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the configured mailboxes.

    Example: mailbridge mailboxes list --json
    """
    rows = [
        {
            "name": m.name,
            "host": m.connection.host,
            "port": m.connection.port,
            "security": m.connection.security,
            "username": m.connection.username,
            "folders": list(m.folders),
            "contact": m.contact,
            "after_sync": m.after_sync,
        }
        for m in settings().mailboxes
    ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{r['name']}\t{r['username'] or '-'}@{r['host']}:{r['port']} ({r['security']})\t"
            f"{', '.join(r['folders'])}\t-> {r['contact']}"
        )


@app.command("test")
def test(name: str | None = typer.Argument(None, help="Mailbox to test (default: every one).")) -> None:
    """Log in to a mailbox and show TLS, certificate, capabilities, folders and message counts.

    Example: mailbridge mailboxes test support
    """
    mailboxes = settings().mailboxes
    chosen = [m for m in mailboxes if name in (None, m.name)]
    if not chosen:
        raise NotFoundError(f"no mailbox named {name!r}" if name else "no [[mailboxes]] configured")
    errors = []
    for mailbox in chosen:
        try:
            _test_one(mailbox)
        except SourceError as exc:
            errors.append(str(exc))
    if errors:
        raise SourceError("; ".join(errors))


def _test_one(mailbox) -> None:
    c = mailbox.connection
    typer.echo(f"mailbox {mailbox.name}: {c.username or '-'}@{c.host}:{c.port} ({c.security})")
    probe = probe_mailbox(mailbox)
    for line in describe_probe(probe):
        typer.echo(f"  {line}")
    if probe.missing:
        raise SourceError(f"mailbox {mailbox.name!r}: folder {probe.missing[0]!r} does not exist on the server")
    typer.echo(f"  ok: logged in and found {', '.join(mailbox.folders)}")


imap_app.command("test")(test)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Unique mailbox name."),
    host: str = typer.Option(..., "--host", help="IMAP server."),
    username: str = typer.Option(..., "--username", help="IMAP login."),
    password_env: str = typer.Option(None, "--password-env", help="Environment variable holding the password."),
    password_file: str = typer.Option(None, "--password-file", help="File holding the password."),
    security: str = typer.Option("ssl", "--security", help="ssl | starttls | plain."),
    port: int = typer.Option(None, "--port", help="Default follows --security (993 / 143)."),
    folder: list[str] = typer.Option(["INBOX"], "--folder", help="Folder to read; repeat for several."),
    contact: str = typer.Option("Customer service", "--contact", help="Contact its tickets belong to."),
    create_contact: bool = typer.Option(
        False, "--create-contact", help="Create the Contact at the next start if missing (else it must exist)."
    ),
    ca_file: str = typer.Option(None, "--ca-file", help="PEM file of a private CA."),
    initial_sync: str = typer.Option("new-only", "--initial-sync", help="new-only | import-silently | import."),
) -> None:
    """Add a [[mailboxes]] table to mailbridge.toml (comments are kept); the result is checked first.

    Example: mailbridge mailboxes add orders --host imap.shop.example --username orders@shop.example --password-env ORDERS_PW
    """
    values = {
        "name": name,
        "contact": contact,
        "create_contact": True if create_contact else None,
        "host": host,
        "security": security,
        "port": port,
        "ca_file": ca_file,
        "username": username,
        "password_env": password_env,
        "password_file": password_file,
        "folders": list(folder),
        "initial_sync": initial_sync,
    }
    path = find_config(state.config_path)
    add_mailbox(path, values)
    typer.echo(f"mailbox {name!r} added to {path}; try it: mailbridge mailboxes test {name}")


@app.command("remove")
def remove(name: str = typer.Argument(..., help="The mailbox to remove.")) -> None:
    """Remove a [[mailboxes]] table from mailbridge.toml; stored mail and tickets stay.

    Example: mailbridge mailboxes remove orders
    """
    path = find_config(state.config_path)
    remove_mailbox(path, name)
    typer.echo(f"mailbox {name!r} removed from {path}")
