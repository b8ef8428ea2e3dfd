"""`mailbridge ingest [PATH...]`: mail that arrives without IMAP, from an MTA on stdin or from files.

With no PATH, one RFC 5322 message is read on stdin (Postfix pipe, procmail, fetchmail) and the exit
code follows sysexits.h, so the MTA knows what to do. With PATHs, .eml files, directories of them,
Maildirs and mbox files are imported as history with a progress bar and a summary (`import_folder` does the same
for an IMAP folder, for `mailboxes import`). Both hand each message to intake.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from mailbridge.base.errors import CommandError, MailbridgeError, NotFoundError
from mailbridge.cli.common import echo_json, open_app, option_instant, settings
from mailbridge.decisions.history import IMPORT_STATUSES
from mailbridge.decisions.kinds import TicketStatus
from mailbridge.ingest.guard import RawStoreFull, accept_counted, accept_guarded
from mailbridge.ingest.history import HistoryPlan, live_folders, open_folder, settle_tickets
from mailbridge.ingest.intake import Inbox, IntakeResult
from mailbridge.ingest.sources.files import (
    INGEST_MAILBOX,
    count_messages,
    raw_mail,
    read_bounded,
    read_messages,
    recognise_path,
)
from mailbridge.ingest.sources.imap import RawMail
from mailbridge.runtime.app import App, ensure_contact
from mailbridge.store import db

EX_DATAERR = 65  # sysexits.h: the input was not a message at all (empty)
EX_UNAVAILABLE = 69  # the bound mailbox takes no mail that matches no ticket
EX_TEMPFAIL = 75  # not stored now; the MTA keeps the message and retries
DEFAULT_CONTACT = "Customer service"


STATUS_HELP = (
    "The status of the tickets the import opens: new, open, waiting or closed (closed at their last message). "
    "A ticket holding live mail keeps its own."
)
CLOSED_BEFORE_HELP = (
    "Close the tickets the import opens whose last message is older than this date or time (ISO 8601; without an "
    "offset in [sla] timezone, as `stats` reads dates); newer ones stay open, or take --status when it is not closed."
)


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
    contact: str = typer.Option(
        None,
        "--contact",
        help="Contact (department) for every new ticket, created if missing; without it: the mailbox's, or the Contact whose address a mail was written to.",
    ),
    receipts: bool = typer.Option(
        None,
        "--receipts/--silent",
        help="--receipts: send what new customer mail causes (receipts, agents' notifications); --silent: no mail "
        "at all (default: --receipts on stdin, --silent for PATH imports). Agents' answers and survey answers in a "
        "PATH import are stored, never relayed or thanked.",
    ),
    status: str = typer.Option(None, "--status", help=STATUS_HELP),
    closed_before: str = typer.Option(None, "--closed-before", help=CLOSED_BEFORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Store mail handed over by an MTA on stdin, or import .eml files, Maildirs and mbox files as history.

    A PATH import sends no mail at all unless --receipts is given, and even then only what new customer mail
    causes: receipts and the agents' notifications. Agents' answers (to signed reply addresses) and survey answers
    found in files are stored on their tickets with an event, but never relayed or thanked: an archive holds
    answers that went out long ago. Mail From one of our addresses (a Sent folder) is an agent's answer: stored on
    the ticket of the customer it was written to (by In-Reply-To and References, else that customer and the
    subject; else it opens their ticket), as the ticket's first response at its Date, never sent. The tickets the
    import opened are dated by their messages and take --status (closed: at their last message) or, with
    --closed-before, close when their last message is older; without either, one whose last message is our answer
    waits on the customer. On stdin (live mail from an MTA) everything is handled as on a poll.

    Exit codes on stdin: 0 stored or already stored (malformed mail too, flagged), 75 when it cannot be
    stored now (database unavailable, configuration broken, no room on the raw-mail disk) so the MTA retries,
    65 for empty input.

    JSON on stdin (errors stay one line on stderr with their exit code):

      {"result": "stored", "message": 812, "ticket": "1041", "new_ticket": true,
       "flagged": false}

    ("result" is "stored" or "already_stored"; "ticket" is null without one.) JSON of a PATH import (exit 1
    when "failed" is not 0):

      {"stored": 120, "duplicate": 3, "flagged": 2, "not_stored": 0, "failed": 0,
       "tickets": {"opened": 80, "threaded": 40, "answers": 35,
       "statuses": {"closed": 78, "waiting": 2}}}

    (the second line of the summary: "tickets" counts the tickets opened, the messages threaded to a ticket that
    was there, the answers of ours among them, and the status each imported ticket ends in.)

    Example (Postfix master.cf): mailbridge unix - n n - - pipe user=mailbridge argv=mailbridge ingest

    Example: mailbridge ingest --contact Sales ~/Maildir/.Sales old-archive.mbox

    Example: mailbridge ingest --status closed --closed-before 2026-11-01 support-archive.mbox Sent.mbox

    Example: mailbridge ingest --json < message.eml
    """
    plan = history_plan(status, closed_before)
    if paths:
        if receipts and plan != HistoryPlan():
            raise CommandError("--receipts: a history import (--status, --closed-before) sends no mail; leave it out")
        _import_paths(paths, mailbox, contact, silent=receipts is not True, plan=plan, as_json=as_json)
    else:
        if plan != HistoryPlan():
            raise CommandError("--status and --closed-before: only for a PATH import, not for mail on stdin")
        _ingest_stdin(mailbox, contact, silent=receipts is False, as_json=as_json)


def history_plan(status: str | None, closed_before: str | None) -> HistoryPlan:
    """Read --status and --closed-before (a date or time without an offset in `[sla] timezone`, as `stats --since`
    reads it). Raises: CommandError naming the option."""
    if status is not None and status not in IMPORT_STATUSES:
        raise CommandError(f"--status: expected one of {', '.join(IMPORT_STATUSES)}, got {status!r}")
    zone = ZoneInfo(settings().sla.timezone) if closed_before else None
    return HistoryPlan(
        TicketStatus(status) if status else None, option_instant(closed_before, "--closed-before", zone=zone)
    )


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
    paths: list[Path],
    mailbox: str | None,
    contact: str | None,
    *,
    silent: bool,
    plan: HistoryPlan = HistoryPlan(),
    as_json: bool = False,
) -> None:
    sources = [recognise_path(path) for path in paths]
    try:
        app = open_app()
        target = history_target(resolve_target(app, mailbox, contact, silent))
        total = sum(count_messages(source) for source in sources)
        mails = (raw_mail(target.mailbox, s.kind, raw) for s in sources for raw in read_messages(s))
        run = _import_all(app, target, mails, total, plan)
    except db.DATABASE_DOWN as exc:
        _fail(EX_TEMPFAIL, f"database unavailable ({_first_line(exc)}); run the import again later")
    _report(run, as_json)


def import_folder(name: str, folder: str, contact: str | None, plan: HistoryPlan, *, as_json: bool = False) -> None:
    """Import one IMAP folder of a configured mailbox as history (`mailboxes import`), changing nothing on the server.

    Raises: CommandError for a folder the daemon polls (its mail is live, not history).
    """
    app = open_app()
    mailbox = next((m for m in app.settings.mailboxes if m.name == name), None)
    if mailbox is None:
        known = ", ".join(m.name for m in app.settings.mailboxes) or "none configured"
        raise NotFoundError(f"no mailbox named {name!r} ({known})")
    target = history_target(resolve_target(app, name, contact, silent=True))
    if folder in mailbox.folders:
        raise CommandError(
            f"--folder {folder!r}: mailbox {name!r} polls this folder; its mail is live (see initial_sync), not history"
        )
    with open_folder(mailbox, folder) as reader:
        run = _import_all(app, target, reader.messages(target.inbox.max_message_bytes), len(reader.uids), plan)
    _report(run, as_json)


def history_target(target: IngestTarget) -> IngestTarget:
    """The target of an archive: answers in it are kept, never relayed or thanked (even with --receipts), and mail
    From our addresses is an agent's answer sent long ago."""
    return replace(target, inbox=replace(target.inbox, relays_answers=False, imports_history=True))


@dataclass(frozen=True)
class ImportRun:
    """What an import did: the summary's counts and the status each ticket it opened ends in."""

    tally: Counter
    statuses: Counter


def _import_all(app: App, target: IngestTarget, mails: Iterator[RawMail], total: int, plan: HistoryPlan) -> ImportRun:
    now = app.clock.now()
    tally: Counter = Counter(stored=0, duplicate=0, flagged=0, unknown=0, failed=0, opened=0, threaded=0, answers=0)
    numbers: set[str] = set()
    with typer.progressbar(length=total, label="ingesting", file=sys.stderr) as bar:
        for mail in mails:
            result = accept_guarded(target.inbox, mail, now, silent=target.silent)
            tally.update(_outcomes(result))
            if result is not None and result.ticket_number:
                # Already stored ones too: a run cut short settles its tickets when it is run again.
                numbers.add(result.ticket_number)
            bar.update(1)
    if not target.silent:
        # With --receipts the mail is taken as current, not as history: its tickets stay as intake left them.
        return ImportRun(tally, Counter())
    statuses = settle_tickets(app.engine, numbers, plan, live_folders(app.settings.mailboxes), now)
    return ImportRun(tally, statuses)


def _report(run: ImportRun, as_json: bool) -> None:
    tally = run.tally
    if as_json:
        echo_json(tally_as_json(tally, run.statuses))
    else:
        typer.echo(
            f"stored {tally['stored']}, duplicate {tally['duplicate']}, flagged {tally['flagged']}, "
            f"not stored {tally['unknown']}, failed {tally['failed']}"
        )
        ends = ", ".join(f"{status} {n}" for status, n in sorted(run.statuses.items())) or "none"
        typer.echo(
            f"tickets: opened {tally['opened']}, threaded {tally['threaded']} (answers {tally['answers']}); "
            f"imported tickets now: {ends}"
        )
    if tally["failed"]:
        raise typer.Exit(1)


def resolve_target(app: App, mailbox: str | None, contact: str | None, silent: bool) -> IngestTarget:
    """Decide the key's mailbox and the Contact, creating the Contact when missing. Raises: CommandError."""
    configured = {m.name: m for m in app.settings.mailboxes}
    if mailbox and mailbox not in configured:
        known = ", ".join(configured) or "none configured"
        raise CommandError(f"--mailbox {mailbox!r}: no [[mailboxes]] entry has this name ({known})")
    chosen = contact is not None  # --contact NAME: every message is filed there, whatever address it was sent to
    if contact is None:
        bound = configured[mailbox] if mailbox else next(iter(configured.values()), None)
        contact = bound.contact if bound else DEFAULT_CONTACT
    if contact not in app.contact_ids:
        ensure_contact(app, contact)
    inbox = app.inbox(configured[mailbox] if mailbox else None, contact, by_address=not chosen)
    return IngestTarget(mailbox or INGEST_MAILBOX, contact, silent, inbox)


def _outcomes(result: IntakeResult | None) -> list[str]:
    if result is None:
        return ["failed"]
    if result.is_unknown:
        return ["unknown"]
    if result.already_stored:
        return ["duplicate"]
    found = ["stored", "flagged"] if result.is_flagged else ["stored"]
    if result.ticket_number:
        found.append("opened" if result.is_new_ticket else "threaded")
    return found + (["answers"] if result.is_answer else [])


def tally_as_json(tally: Counter, statuses: Counter | None = None) -> dict:
    """The `ingest PATH... --json` object: the summary's counts."""
    keys = {"stored": "stored", "duplicate": "duplicate", "flagged": "flagged", "not_stored": "unknown"}
    tickets = {key: tally[key] for key in ("opened", "threaded", "answers")}
    return {
        **{key: tally[name] for key, name in keys.items()},
        "failed": tally["failed"],
        "tickets": {**tickets, "statuses": dict(sorted((statuses or Counter()).items()))},
    }


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
