"""How `mailboxes audit` shows its result: a summary line and one line per problem message, or JSON."""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING, Any

import typer

from mailbridge.base.config.settings import Settings
from mailbridge.cli.common import echo_json
from mailbridge.decisions.mailbox_audit import WORDING, Finding, shorten, summary_line

if TYPE_CHECKING:  # the runtime pulls in the database and IMAP libraries: imported when the command runs
    from mailbridge.ingest.audit import AuditedMessage, MailboxAuditResult


def print_audit(settings: Settings, result: MailboxAuditResult, *, as_json: bool) -> None:
    """Print what the audit found (with --fix: before the fix, what it did, and the audit after)."""
    from mailbridge.reports.render import display_zone

    zone = display_zone(settings)
    found = result.before_fix or result
    if as_json:
        echo_json(
            {
                "mailbox": result.mailbox,
                "counts": result.counts,
                "problems": [_json(m, zone) for m in result.problems],
                "not_yet_polled": [m.uid for m in result.messages if m.finding is Finding.NOT_YET_POLLED],
                "uidvalidity_changed": result.changed_folders,
                "fixed": None
                if result.before_fix is None
                else {
                    "imported": result.imported,
                    "marked": result.marked,
                    "problems_before": [_json(m, zone) for m in found.problems],
                },
            }
        )
        return
    typer.echo(summary_line(found.mailbox, found.counts, found.changed_folders))
    for message in found.problems:
        typer.echo(f"  {_line(message, zone)}")
    if result.before_fix is not None:
        typer.echo(f"fixed: {result.imported} imported, {result.marked} marked on the server; audited again:")
        typer.echo(summary_line(result.mailbox, result.counts, result.changed_folders))


def _line(message: AuditedMessage, zone: tzinfo) -> str:
    from mailbridge.reports.render import format_time, visible_text

    when = format_time(message.sent_at, zone) if message.sent_at else "no date"
    sender = shorten(visible_text(message.sender) or "-", 40)
    subject = shorten(visible_text(message.subject) or "(no subject)", 60)
    return f"{message.folder} uid {message.uid}  {when}  {sender}  {subject}: {WORDING[message.finding]}"


def _json(message: AuditedMessage, zone: tzinfo) -> dict[str, Any]:
    from mailbridge.reports.render import format_time, visible_text

    row = message.as_json()
    return {
        **row,
        "date": format_time(message.sent_at, zone, iso=True),
        "from": visible_text(message.sender),
        "subject": visible_text(message.subject),
    }
