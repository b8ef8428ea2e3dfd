"""`mailbridge ingest [PATH...]`: mail that arrives without IMAP, from an MTA on stdin or from files.

With no PATH, one RFC 5322 message is read on stdin (Postfix pipe, procmail, fetchmail) and the exit
code follows sysexits.h, so the MTA knows what to do. With PATHs, .eml files, directories of them,
Maildirs and mbox files are imported with a progress bar and a summary. Both hand each message to intake.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import typer

from mailbridge.base.errors import CommandError, MailbridgeError
from mailbridge.cli.common import echo_json, open_app
from mailbridge.ingest.guard import RawStoreFull, accept_counted, accept_guarded
from mailbridge.ingest.intake import Inbox, IntakeResult
from mailbridge.ingest.sources.files import (
    INGEST_MAILBOX,
    MailPath,
    count_messages,
    raw_mail,
    read_bounded,
    read_messages,
    recognise_path,
)
from mailbridge.runtime.app import App, ensure_contact
from mailbridge.store import db

EX_DATAERR = 65  # sysexits.h: the input was not a message at all (empty)
EX_UNAVAILABLE = 69  # the bound mailbox takes no mail that matches no ticket
EX_TEMPFAIL = 75  # not stored now; the MTA keeps the message and retries
DEFAULT_CONTACT = "Customer service"


@dataclass(frozen=True)
class IngestTarget:
    """Where ingested mail is filed: its key's mailbox, the Contact of new tickets, and whether mail is sent."""

    mailbox: str
    contact: str
    silent: bool
    inbox: Inbox  # what intake needs for this target


def ingest(
    paths: list[Path] = typer.Argument(
        None, help=".eml files, directories of .eml files, Maildirs or mbox files; none: one message on stdin."
    ),
    mailbox: str = typer.Option(
        None, "--mailbox", help="File the mail under this configured mailbox name (its Contact, limits and rules)."
    ),
    contact: str = typer.Option(None, "--contact", help="Contact (department) for new tickets; created if missing."),
    receipts: bool = typer.Option(
        None,
        "--receipts/--silent",
        help="--receipts: send what new customer mail causes (receipts, agents' notifications); --silent: no mail "
        "at all (default: --receipts on stdin, --silent for PATH imports). Agents' answers and survey answers in a "
        "PATH import are stored, never relayed or thanked.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Store mail handed over by an MTA on stdin, or import .eml files, Maildirs and mbox files.

    A PATH import sends no mail at all unless --receipts is given, and even then only what new customer mail
    causes: receipts and the agents' notifications. Agents' answers (to signed reply addresses) and survey answers
    found in files are stored on their tickets with an event, but never relayed or thanked: an archive holds
    answers that went out long ago. On stdin (live mail from an MTA) everything is handled as on a poll.

    Exit codes on stdin: 0 stored or already stored (malformed mail too, flagged), 75 when it cannot be
    stored now (database unavailable, configuration broken, no room on the raw-mail disk) so the MTA retries,
    65 for empty input.

    JSON on stdin (errors stay one line on stderr with their exit code):

      {"result": "stored", "message": 812, "ticket": "1041", "new_ticket": true,
       "flagged": false}

    ("result" is "stored" or "already_stored"; "ticket" is null without one.) JSON of a PATH import (exit 1
    when "failed" is not 0):

      {"stored": 120, "duplicate": 3, "flagged": 2, "not_stored": 0, "failed": 0}

    Example (Postfix master.cf): mailbridge unix - n n - - pipe user=mailbridge argv=mailbridge ingest

    Example: mailbridge ingest --contact Sales ~/Maildir/.Sales old-archive.mbox

    Example: mailbridge ingest --json < message.eml
    """
    if paths:
        _import_paths(paths, mailbox, contact, silent=receipts is not True, as_json=as_json)
    else:
        _ingest_stdin(mailbox, contact, silent=receipts is False, as_json=as_json)


def _ingest_stdin(mailbox: str | None, contact: str | None, *, silent: bool, as_json: bool = False) -> None:
    try:
        app = open_app()
        target = resolve_target(app, mailbox, contact, silent)
        # Never more than the mailbox's max_message_bytes in memory: a larger message is recorded as too large.
        read = read_bounded(sys.stdin.buffer, target.inbox.max_message_bytes)
        if isinstance(read, bytes) and not read.strip():
            _fail(EX_DATAERR, "no message on stdin")
        mail = (
            raw_mail(target.mailbox, "stdin", read)
            if isinstance(read, bytes)
            else replace(read, mailbox=target.mailbox)
        )
        result = accept_counted(target.inbox, mail, app.clock.now(), silent=target.silent)
    except db.DATABASE_DOWN as exc:
        _fail(EX_TEMPFAIL, f"database unavailable ({_first_line(exc)}); the sender should retry")
    except RawStoreFull as exc:
        _fail(EX_TEMPFAIL, f"no room to store raw mail ({exc}); the MTA will retry; nothing counted toward quarantine")
    except (MailbridgeError, OSError) as exc:
        # A broken configuration or disk must not bounce customer mail: the MTA keeps it until it is fixed.
        _fail(EX_TEMPFAIL, f"{exc}; the sender should retry")
    if result is None:
        _fail(EX_TEMPFAIL, "storing failed (logged; quarantined after 3 attempts); the sender should retry")
    if result.is_unknown:
        _fail(EX_UNAVAILABLE, "not stored: it matches no ticket and create_tickets_for_unknown is off")
    if as_json:
        echo_json(result_as_json(result))
    else:
        typer.echo(_describe(result))


def _import_paths(
    paths: list[Path], mailbox: str | None, contact: str | None, *, silent: bool, as_json: bool = False
) -> None:
    sources = [recognise_path(path) for path in paths]
    try:
        app = open_app()
        target = resolve_target(app, mailbox, contact, silent)
        # Files are an archive: answers in them are kept, never relayed or thanked, even with --receipts.
        target = replace(target, inbox=replace(target.inbox, relays_answers=False))
        tally = _import_all(app, target, sources)
    except db.DATABASE_DOWN as exc:
        _fail(EX_TEMPFAIL, f"database unavailable ({_first_line(exc)}); run the import again later")
    if as_json:
        echo_json(tally_as_json(tally))
    else:
        typer.echo(
            f"stored {tally['stored']}, duplicate {tally['duplicate']}, flagged {tally['flagged']}, "
            f"not stored {tally['unknown']}, failed {tally['failed']}"
        )
    if tally["failed"]:
        raise typer.Exit(1)


def _import_all(app: App, target: IngestTarget, sources: list[MailPath]) -> Counter:
    now = app.clock.now()
    tally: Counter = Counter(stored=0, duplicate=0, flagged=0, unknown=0, failed=0)
    total = sum(count_messages(source) for source in sources)
    with typer.progressbar(length=total, label="ingesting", file=sys.stderr) as bar:
        for source in sources:
            for raw in read_messages(source):
                result = accept_guarded(
                    target.inbox, raw_mail(target.mailbox, source.kind, raw), now, silent=target.silent
                )
                tally.update(_outcomes(result))
                bar.update(1)
    return tally


def resolve_target(app: App, mailbox: str | None, contact: str | None, silent: bool) -> IngestTarget:
    """Decide the key's mailbox and the Contact, creating the Contact when missing. Raises: CommandError."""
    configured = {m.name: m for m in app.settings.mailboxes}
    if mailbox and mailbox not in configured:
        known = ", ".join(configured) or "none configured"
        raise CommandError(f"--mailbox {mailbox!r}: no [[mailboxes]] entry has this name ({known})")
    if contact is None:
        bound = configured[mailbox] if mailbox else next(iter(configured.values()), None)
        contact = bound.contact if bound else DEFAULT_CONTACT
    if contact not in app.contact_ids:
        ensure_contact(app, contact)
    inbox = app.inbox(configured[mailbox] if mailbox else None, contact)
    return IngestTarget(mailbox or INGEST_MAILBOX, contact, silent, inbox)


def _outcomes(result: IntakeResult | None) -> list[str]:
    if result is None:
        return ["failed"]
    if result.is_unknown:
        return ["unknown"]
    if result.already_stored:
        return ["duplicate"]
    return ["stored", "flagged"] if result.is_flagged else ["stored"]


def tally_as_json(tally: Counter) -> dict:
    """The `ingest PATH... --json` object: the summary line's counts."""
    keys = {"stored": "stored", "duplicate": "duplicate", "flagged": "flagged", "not_stored": "unknown"}
    return {**{key: tally[name] for key, name in keys.items()}, "failed": tally["failed"]}


def result_as_json(result: IntakeResult) -> dict:
    """The `ingest --json` object of one message from stdin."""
    return {
        "result": "already_stored" if result.already_stored else "stored",
        "message": result.message_row_id,
        "ticket": result.ticket_number,
        "new_ticket": result.is_new_ticket,
        "flagged": bool(result.is_flagged),
    }


def _describe(result: IntakeResult) -> str:
    if result.already_stored:
        return f"already stored (message {result.message_row_id})"
    ticket = f", ticket [#{result.ticket_number}]" if result.ticket_number else ", no ticket"
    flag = ", flagged" if result.is_flagged else ""
    return f"stored (message {result.message_row_id}{ticket}{flag})"


def _first_line(exc: Exception) -> str:
    origin = getattr(exc, "orig", None) or exc
    return (str(origin).strip().splitlines() or [type(origin).__name__])[0]


def _fail(code: int, message: str) -> None:
    typer.echo(f"mailbridge: error: {message}", err=True)
    raise typer.Exit(code)
