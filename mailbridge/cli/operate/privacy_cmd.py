"""`mailbridge customers erase|export|erasures`: a person's data (GDPR). Registered on the `customers` sub-app
(customers_cmd.py); the work is in runtime.erasure (erase) and store.customer_export (export)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from mailbridge.base.config.settings import Settings
from mailbridge.base.errors import CommandError, NotFoundError
from mailbridge.base.files import make_private_dir, write_private, write_private_bytes
from mailbridge.cli.actor import admin_actor
from mailbridge.cli.common import echo_json, open_app, open_store
from mailbridge.reports.render import display_zone, format_time, with_local_times

# The counts in the order and words `erase` prints them.
COUNT_LINES = (
    ("tickets", "tickets anonymised (numbers, statuses, times and rating scores stay)"),
    ("messages", "messages emptied (subject, text, addresses)"),
    ("raw_messages", "raw mails removed"),
    ("raw_files", "raw mail files deleted"),
    ("attachments", "attachments removed"),
    ("outbox_mails", "copies of mail sent removed"),
    ("ratings", "rating comments removed"),
    ("participants", "Cc entries removed"),
    ("events", "ticket events with the address rewritten"),
    ("server_messages", "messages on the IMAP server"),
)


def erase(
    address: str = typer.Argument(..., help="The person's address."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the counts; change nothing, delete nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    skip_server: bool = typer.Option(
        False, "--skip-server", help="Leave their messages on the IMAP server (a mailbox that is gone for good)."
    ),
    actor: str = typer.Option(None, "--actor", help="Who erases, in the audit record (admin:<login name>)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Erase a person: anonymise their tickets and rows, remove their mail, delete it on the IMAP server.

    Ticket numbers, statuses, times and rating scores stay for the statistics; subjects, texts, names, addresses,
    raw mail, attachments and the copies of mail sent to them go, with their full-text index entries. Their source
    messages are deleted on the IMAP server (\\Deleted and UID EXPUNGE) where UIDVALIDITY still matches, and in the
    folder of `after_sync = "move:FOLDER"`. A blocklist entry for the address stays. The audit record
    (`customers erasures`) keeps who, when and the counts, never the address. Asks first unless --yes.

    Example: mailbridge customers erase anna@example.org --dry-run
    """
    from mailbridge.runtime.erasure import erase_customer  # here: the runtime loads IMAP and the database

    app, who = open_app(), admin_actor(actor)
    try:
        if not dry_run and not yes:
            preview = erase_customer(app, address, actor=who, dry_run=True, skip_server=skip_server)
            _print_report(preview, address, as_json=False)
            if not typer.confirm(f"Erase {address.strip().lower()}?", default=False):
                raise CommandError("nothing erased")
        report = erase_customer(app, address, actor=who, dry_run=dry_run, skip_server=skip_server)
    except NotFoundError as exc:
        raise explained(exc, app.settings, address) from None
    _print_report(report, address, as_json=as_json)


def explained(error: NotFoundError, settings: Settings, address: str) -> NotFoundError:
    """The not-found error with why the address is nobody's: ours, an agent's, not an address."""
    from mailbridge.reports.search import not_a_customer
    from mailbridge.store.reader import open_reader

    why = not_a_customer(open_reader(settings.database.connect_url()), settings, address)
    return NotFoundError(f"{error}: {why}") if why else error


def _print_report(report, address: str, *, as_json: bool) -> None:
    if as_json:
        echo_json(
            {
                "dry_run": report.dry_run,
                "pseudonym": report.pseudonym,
                "erasure_id": report.erasure_id,
                "counts": report.counts.as_dict(),
                "problems": list(report.problems),
            }
        )
        return
    shown = address.strip().lower()
    if report.dry_run:
        typer.echo(f"dry run, nothing changed: erasing {shown} would remove")
    else:
        typer.echo(f"erased {shown}: its rows now carry {report.pseudonym} (audit record {report.erasure_id})")
    counts = report.counts.as_dict()
    for key, words in COUNT_LINES:
        typer.echo(f"  {counts[key]:>6}  {words}")
    if counts["blocklist_kept"]:
        typer.echo("  the blocklist entry for the address stays (spam protection)")
    for problem in report.problems:
        typer.echo(f"  not checked: {problem}")


def export(
    address: str = typer.Argument(..., help="The person's address."),
    to: Path = typer.Option(..., "--to", help="A new or empty directory for customer.json and mail/*.eml."),
) -> None:
    """Write what we hold about a person: customer.json and each of their messages as .eml (GDPR access).

    customer.json holds the customer, their tickets with status history and ratings, the messages they sent and the
    answers they got (text and attachment names), and the mail we sent them; mail/in-ID.eml are their messages as
    received, mail/out-ID.eml the mails sent to them. Internal notes and agents' mail stay out. The directory is
    0700, the files 0600.

    Example: mailbridge customers export anna@example.org --to ./anna-export
    """
    from mailbridge.store import customer_export, db

    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise CommandError(f"--to: {to} exists and is not an empty directory")
    store = open_store()
    with db.transaction(store.engine) as session:
        found = customer_export.gather_export(session, address, store.clock.now())
    if found is None:
        raise explained(NotFoundError(f"nothing stored about {address.strip().lower()}"), store.settings, address)
    make_private_dir(to)
    make_private_dir(to / "mail")
    text = json.dumps(found.document, default=_plain, indent=2, ensure_ascii=False)
    write_private(to / "customer.json", text + "\n")
    for name, data in found.files:
        write_private_bytes(to / name, data)
    document = found.document
    typer.echo(
        f"wrote {to / 'customer.json'} ({len(document['tickets'])} tickets, {len(document['messages'])} messages, "
        f"{len(document['mail_sent_to_you'])} mails sent) and {len(found.files)} .eml files to {to / 'mail'}"
    )
    if found.missing_raw:
        typer.echo(f"  {found.missing_raw} messages have no .eml: their raw mail was removed ([retention])")


def _plain(value):
    return value.isoformat() if isinstance(value, datetime) else value


def erasures(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the audit records of erasures and retention runs: when, who, what was removed (never an address).

    Example: mailbridge customers erasures
    """
    from mailbridge.store import db, erasure

    store = open_store()
    zone = display_zone(store.settings)
    with db.transaction(store.engine) as session:
        rows = erasure.list_erasures(session)
    if as_json:
        echo_json(with_local_times(rows, zone))
        return
    if not rows:
        typer.echo("no erasures")
    for row in rows:
        counts = " ".join(f"{k}={v}" for k, v in row["counts"].items() if v)
        subject = f" {row['subject']}" if row["subject"] else ""
        typer.echo(f"#{row['id']} {format_time(row['at'], zone)} {row['kind']:<9} {row['actor']}{subject}  {counts}")
