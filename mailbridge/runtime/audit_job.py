"""The mailbox audit as the CLI and the daemon run it: `audit_now` for `mailboxes audit NAME`, `audit_mailboxes` for
the daemon's nightly timer (once across the fleet, at `[audit] hour` in `[sla] timezone`).

The audit itself is `ingest.audit`; this module hands it the app's IMAP source and intake and reads the clock once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from mailbridge.base.config.settings import MailboxSettings
from mailbridge.base.errors import MailbridgeError, NotFoundError, SourceError
from mailbridge.decisions.mailbox_audit import next_audit_at
from mailbridge.ingest.audit import MailboxAuditResult, audit_mailbox, record_audit_error
from mailbridge.reports.render import display_zone
from mailbridge.runtime.app import App

log = logging.getLogger(__name__)
AUDIT_TIMER = "audit_mailboxes"


def find_mailbox(app: App, name: str) -> MailboxSettings:
    """The configured mailbox of this name. Raises: NotFoundError naming the ones there are."""
    found = next((m for m in app.settings.mailboxes if m.name == name), None)
    if found is None:
        names = ", ".join(m.name for m in app.settings.mailboxes) or "none"
        raise NotFoundError(f"no mailbox named {name!r} (configured: {names})")
    return found


def audit_now(app: App, mailbox: MailboxSettings, *, fix: bool = False) -> MailboxAuditResult:
    """Audit one mailbox now (and mend it with `fix`); a server that refuses is kept as the audit's error, then
    raised. Raises: SourceError."""
    now = app.clock.now()
    inbox = app.inbox(mailbox)
    try:
        return audit_mailbox(app.open_source, inbox, mailbox, now, fix=fix)
    except SourceError as exc:
        record_audit_error(inbox, mailbox, now, str(exc))
        raise


def next_nightly_audit(app: App, now: datetime) -> datetime:
    """When the nightly audit runs next after `now`."""
    return next_audit_at(now, app.settings.audit.hour, display_zone(app.settings))


async def audit_mailboxes(app: App) -> int:
    """The daemon's nightly job: audit every mailbox (none fixed), keep each result; return how many problems.

    A mailbox that cannot be audited does not stop the others; the job then fails, naming them, so its health shows it.
    """
    problems, failed = 0, []
    for mailbox in app.settings.mailboxes:
        try:
            result = await asyncio.to_thread(audit_now, app, mailbox)
        except MailbridgeError as exc:
            log.error("audit failed mailbox=%s error=%s", mailbox.name, exc)
            failed.append(mailbox.name)
            continue
        problems += len(result.problems)
    if failed:
        raise SourceError(f"audit failed for mailbox {', '.join(failed)}")
    return problems
