"""`mailbridge mailboxes list|test|audit|add|remove|import` (and `imap test`): the IMAP side of the configuration.

`add` and `remove` edit mailbridge.toml in place with tomlkit, keeping its comments; `test` logs in
and reports TLS, certificate, capabilities and folders, or one line saying what failed.
"""

from __future__ import annotations

from dataclasses import asdict, fields

import typer

from mailbridge.base.config.edit import add_mailbox, remove_mailbox
from mailbridge.base.config.settings import find_config
from mailbridge.base.errors import NotFoundError, SourceError
from mailbridge.cli.common import echo_json, open_app, settings, state
from mailbridge.ingest.sources.probe import ImapProbe, describe_probe, probe_mailbox

app = typer.Typer(no_args_is_help=True, help="IMAP mailboxes: list, test, audit, add, remove, import.")
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
def test(
    name: str | None = typer.Argument(None, help="Mailbox to test (default: every one)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per mailbox tested, as a list."),
) -> None:
    """Log in to a mailbox and show TLS, certificate, capabilities, folders and message counts.

    A security that does not fit the port is named in under 2 s ("port 993 speaks TLS: use security = ssl").

    JSON: a list, one object per mailbox; a failed one has "ok": false, its "error" and nulls (exit code 1):

      [{"mailbox": "support", "host": "imap.shop.example", "port": 993,
        "security": "ssl", "username": "support@shop.example",
        "ok": true, "error": null, "tls_version": "TLSv1.3",
        "cipher": "TLS_AES_256_GCM_SHA384", "cert_subject": "commonName=...",
        "cert_issuer": "commonName=...",
        "cert_expires": "Jan 1 00:00:00 2027 GMT",
        "capabilities": {"IDLE": true, "MOVE": true, "UIDPLUS": true,
        "CONDSTORE": false}, "folders": {"INBOX": 12}, "missing": []}]

    Example: mailbridge mailboxes test support

    Example: mailbridge mailboxes test --json
    """
    mailboxes = settings().mailboxes
    chosen = [m for m in mailboxes if name in (None, m.name)]
    if not chosen:
        raise NotFoundError(f"no mailbox named {name!r}" if name else "no [[mailboxes]] configured")
    errors, rows = [], []
    for mailbox in chosen:
        probe, error = None, None
        try:
            probe = _test_one(mailbox, quiet=as_json)
        except SourceError as exc:
            error = str(exc)
        if probe is not None and probe.missing:
            error = f"mailbox {mailbox.name!r}: folder {probe.missing[0]!r} does not exist on the server"
        errors += [error] if error else []
        rows.append(_row(mailbox, probe, error))
    if as_json:
        echo_json(rows)
    if errors:
        raise SourceError("; ".join(errors))


def _row(mailbox, probe: ImapProbe | None, error: str | None) -> dict:
    """One mailbox's result for --json: where, ok, error, then the probe's fields (nulls when it failed)."""
    c = mailbox.connection
    facts = {field.name: None for field in fields(ImapProbe)} if probe is None else asdict(probe)
    facts["missing"] = list(facts["missing"]) if facts["missing"] is not None else None
    where = {"mailbox": mailbox.name, "host": c.host, "port": c.port, "security": c.security, "username": c.username}
    return {**where, "ok": error is None, "error": error, **facts}


def _test_one(mailbox, *, quiet: bool = False) -> ImapProbe:
    c = mailbox.connection
    say = (lambda _line: None) if quiet else typer.echo
    say(f"mailbox {mailbox.name}: {c.username or '-'}@{c.host}:{c.port} ({c.security})")
    probe = probe_mailbox(mailbox)
    for line in describe_probe(probe):
        say(f"  {line}")
    if not probe.missing:
        say(f"  ok: logged in and found {', '.join(mailbox.folders)}")
    return probe


imap_app.command("test")(test)


@app.command("audit")
def audit(
    name: str = typer.Argument(..., help="The mailbox to audit."),
    fix: bool = typer.Option(
        False, "--fix", help="Import what is not stored (normal intake), mark what is stored but not marked."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Prove that nothing was lost: compare the server's UIDs, flags and UIDVALIDITY with what is stored.

    Prints one summary line and one line per problem message (folder, UID, date, sender, subject): on the server
    but not stored ("missing"), marked on the server (\\Seen, \\Deleted) but not stored, stored but not marked.
    Messages above the poll's position are "not yet polled" (the next poll takes them), not a problem. The result
    is kept for `status` and the metrics. `--fix` imports every message not stored through the normal intake
    (receipt and notification as for new mail when its Date is within a day, silently when older), carries out
    the after-sync step, and audits again.

    Exit code: 0 nothing lost, 3 problems found (after --fix: left), 1 the audit could not run, 2 configuration.

    Example: mailbridge mailboxes audit support

    Example: mailbridge mailboxes audit support --fix --json
    """
    from mailbridge.cli.setup.audit_output import print_audit
    from mailbridge.runtime.audit_job import audit_now, find_mailbox

    app_ = open_app()
    result = audit_now(app_, find_mailbox(app_, name), fix=fix)
    print_audit(app_.settings, result, as_json=as_json)
    if result.problems:
        raise typer.Exit(3)


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


@app.command("import")
def import_(
    name: str = typer.Argument(..., help="The configured mailbox whose account holds the folder."),
    folder: str = typer.Option(..., "--folder", help="The IMAP folder to import (Archive, Sent, INBOX.Done ...)."),
    status: str = typer.Option(None, "--status", help="new | open | waiting | closed: the imported tickets' status."),
    closed_before: str = typer.Option(
        None,
        "--closed-before",
        help="Close the imported tickets whose last message is older (ISO 8601; without an offset in [sla] timezone).",
    ),
    contact: str = typer.Option(None, "--contact", help="Contact of the tickets it opens (default: the mailbox's)."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON (as `ingest PATH --json`)."),
) -> None:
    """Import the past mail of one IMAP folder as history: silently, read-only, once.

    The folder is opened read-only (EXAMINE) and read with BODY.PEEK: no flag, no move, nothing changes on the server.
    No mail is sent. Each message is keyed by its folder's UIDVALIDITY and UID, so running it again stores nothing
    twice. As with `ingest PATH`: mail From one of our addresses (a Sent folder) is an agent's answer on the ticket
    of the customer it was written to; the tickets the import opens are dated by their messages and take --status,
    or with --closed-before close when their last message is older. A folder the mailbox polls is refused: its
    mail is live (initial_sync decides what happens to mail already there).

    Example: mailbridge mailboxes import support --folder Archive --status closed

    Example: mailbridge mailboxes import support --folder Sent --closed-before 2026-11-01
    """
    from mailbridge.cli.operate.ingest_cmd import history_plan, import_folder  # here: it loads the runtime

    import_folder(name, folder, contact, history_plan(status, closed_before), as_json=as_json)


@app.command("remove")
def remove(name: str = typer.Argument(..., help="The mailbox to remove.")) -> None:
    """Remove a [[mailboxes]] table from mailbridge.toml; stored mail and tickets stay.

    Example: mailbridge mailboxes remove orders
    """
    path = find_config(state.config_path)
    remove_mailbox(path, name)
    typer.echo(f"mailbox {name!r} removed from {path}")
