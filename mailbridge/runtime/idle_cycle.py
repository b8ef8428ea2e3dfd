"""`run --once` when there is nothing to do: the cycle's answer without loading the ORM, the parser or the templates.

A full cycle (runtime/jobs.run_cycle) imports SQLAlchemy, the models, the MIME parser and the mail templates, about
1.5 s on the 2-core test machine, before it finds out that no mailbox has new mail and nothing is due (issue 17:
`run --once` on an idle mailbox under 1 s). This cycle looks first, with plain SQL (store/reader.py) and one IMAP
SELECT and UID SEARCH per folder, and finishes the cycle itself only when the full one would change nothing but the
time of each mailbox's last successful poll:

- the schema is current and every mailbox's Contact exists (else `run` upgrades or creates them);
- every folder was polled before, under the same UIDVALIDITY, has no UID above the stored position, and its mailbox
  is not in a failure episode (the full cycle records the recovery and its alert state);
- no outbox mail is due or being sent, no ticket is a candidate for auto-close, and no unanswered ticket is near or
  past its first-response time (the same pure rules as runtime/timers.py);
- no metrics file is configured and no health file asked for.

Anything else, or any doubt, gives None and the caller runs the full cycle; so does an error of the database or of
a server (the full cycle records and reports it). What it writes is what the full cycle writes for an idle poll:
the folders' and the mailbox's last successful poll (ingest/poll.py's `_save_progress`, `mailbox_state.record_success`).

Beside daemons on PostgreSQL (issue 18) it leaves alone each mailbox whose unexpired lease another process holds and
names it as skipped, like the full cycle; its notes are written only while no process holds the mailbox's lease (one
compare in the same UPDATE). Like any `mailbridge run` it removes the rows of daemons silent for FORGET_AFTER_LEASES
leases. On SQLite the caller holds the file's lock (runtime/run_lock.py), so no daemon runs beside it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from mailbridge.base.clock import Clock, SystemClock
from mailbridge.base.config.settings import MailboxSettings, Settings
from mailbridge.base.errors import MailbridgeError
from mailbridge.decisions.kinds import OutboxStatus, TicketStatus
from mailbridge.decisions.leases import forget_before, held_by
from mailbridge.decisions.lifecycle import SHORTEST_AUTO_CLOSE, SlaState, sla_candidates, sla_state
from mailbridge.ingest.results import PollResult
from mailbridge.runtime.outcomes import CycleReport, Skipped
from mailbridge.store.reader import Reader, contact_names, in_list, instant, open_reader

log = logging.getLogger(__name__)


def idle_cycle(settings: Settings, clock: Clock) -> CycleReport | None:
    """Run the cycle if nothing is to be done but noting the polls; None: there may be work, run the full cycle.

    The caller runs the full cycle when it is to write a health file.
    """
    if settings.metrics.textfile is not None or not settings.mailboxes:
        return None
    try:
        reader = open_reader(settings.database.connect_url(), writable=True)
    except MailbridgeError:
        return None  # an old schema or a database that cannot be opened: the full cycle upgrades or says why
    try:
        now, real_now = clock.now(), SystemClock().now()  # leases and beats are real time (runtime/fleet.py)
        if not _nothing_due(reader, settings, now):
            return None
        skipped = _held_by_daemons(reader, real_now) if reader.dialect == "postgresql" else {}
        mailboxes = [m for m in settings.mailboxes if m.name not in skipped]
        polled = [_idle_folders(reader, mailbox) for mailbox in mailboxes]
        if any(folders is None for folders in polled):
            return None
        lease = timedelta(seconds=settings.daemon.lease_seconds)
        reader.write(
            [
                statement
                for mailbox, folders in zip(mailboxes, polled, strict=True)
                for statement in _poll_noted(reader, mailbox.name, folders or (), now, real_now)
            ]
            + [
                (
                    "DELETE FROM daemon WHERE last_beat_at < :before",
                    {"before": reader.time(forget_before(real_now, lease))},
                )
            ]
        )
    except Exception as exc:  # noqa: BLE001 - any doubt: the full cycle runs, and records and reports what failed
        log.debug("idle cycle not taken: %s", exc)
        return None
    finally:
        reader.close()
    return CycleReport(
        tuple(PollResult(m.name, 0, 0, 0, 0) for m in mailboxes),
        (),
        0,
        0,
        tuple(Skipped(m.name, skipped[m.name]) for m in settings.mailboxes if m.name in skipped),
    )


def _held_by_daemons(reader: Reader, now: datetime) -> dict[str, str]:
    """The mailboxes whose unexpired lease another process holds (PostgreSQL, beside daemons), each with why it is
    skipped: the same rule and words as the full cycle's (decisions/leases.plan_once and held_by)."""
    rows = reader.rows(
        "SELECT l.mailbox, l.holder, l.expires_at, d.host, d.pid FROM mailboxlease l "
        "LEFT JOIN daemon d ON d.instance = l.holder WHERE l.holder IS NOT NULL"
    )
    held = {}
    for row in rows:
        expires_at = instant(row["expires_at"])
        if expires_at is None or expires_at <= now:
            continue  # expired: the full cycle would take it
        daemon = (row["host"], row["pid"]) if row["host"] is not None else None
        held[row["mailbox"]] = held_by(row["holder"], daemon)
    return held


def _nothing_due(reader: Reader, settings: Settings, now: datetime) -> bool:
    """No Contact to create, no outbox mail to send, no ticket for a timer."""
    if {m.contact for m in settings.mailboxes} - contact_names(reader):
        return False
    unsent, params = in_list("s", (OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value))
    due = reader.first(
        f"SELECT id FROM outboxmail WHERE status IN {unsent} AND (status = :sending OR next_attempt_at <= :now) LIMIT 1",
        {**params, "sending": OutboxStatus.SENDING.value, "now": reader.time(now)},
    )
    if due is not None:
        return False
    idle = reader.first(
        "SELECT id FROM ticket WHERE status = :waiting AND status_changed_at <= :cutoff LIMIT 1",
        {"waiting": TicketStatus.WAITING.value, "cutoff": reader.time(now - SHORTEST_AUTO_CLOSE)},
    )
    return idle is None and not _sla_due(reader, settings, now)


def _sla_due(reader: Reader, settings: Settings, now: datetime) -> bool:
    """Whether check_sla would report a ticket: the same candidates and the same pure rule (runtime/timers.py)."""
    done, params = in_list("s", (TicketStatus.CLOSED.value, TicketStatus.SPAM.value, TicketStatus.MERGED.value))
    unreported = f"t.first_response_at IS NULL AND t.sla_reported_at IS NULL AND t.status NOT IN {done}"
    if reader.first(f"SELECT t.id FROM ticket t WHERE {unreported} LIMIT 1", params) is None:
        return False
    from mailbridge.decisions.business_hours import calendar_of, contact_calendars, due_at

    sla = settings.sla
    calendar = calendar_of(sla, now.year)
    contacts = reader.rows("SELECT id, name, first_response_hours AS hours FROM contact")
    hours_of = {row["id"]: row["hours"] for row in contacts}
    calendars = contact_calendars(sla, {row["id"]: row["name"] for row in contacts}, now.year)
    groups = sla_candidates(hours_of, sla.first_response_hours, sla.warn_before_hours, now, calendar, calendars)
    created = []
    for n, (cutoff, ids) in enumerate(groups.items()):
        contacts, more = in_list(f"c{n}_", ids)
        params |= more
        if cutoff is None:
            created.append(f"t.contact_id IN {contacts}")
        else:
            created.append(f"(t.contact_id IN {contacts} AND t.created_at <= :cut{n})")
            params[f"cut{n}"] = reader.time(cutoff)
    rows = reader.rows(
        "SELECT t.created_at, t.contact_id, c.first_response_hours AS hours FROM ticket t "
        f"JOIN contact c ON c.id = t.contact_id WHERE {unreported} AND ({' OR '.join(created) or '1 = 0'})",
        params,
    )
    for row in rows:
        own = calendars.get(row["contact_id"], calendar)
        due = due_at(instant(row["created_at"]) or now, row["hours"] or sla.first_response_hours, own)
        if sla_state(due, now, sla.warn_before_hours, own) is not SlaState.OK:
            return True
    return False


def _idle_folders(reader: Reader, mailbox: MailboxSettings) -> list[str] | None:
    """The mailbox's folders when none has new mail and the mailbox is healthy; None otherwise."""
    health = reader.first("SELECT failing_since FROM mailboxhealth WHERE mailbox = :m", {"m": mailbox.name})
    if health is None or health["failing_since"] is not None:
        return None
    states = {
        row["folder"]: row
        for row in reader.rows(
            "SELECT folder, uidvalidity, last_uid FROM mailboxstate WHERE mailbox = :m", {"m": mailbox.name}
        )
    }
    if any(folder not in states for folder in mailbox.folders):
        return None
    from mailbridge.ingest.sources.imap import ImapSource  # here: IMAP only once the database says "maybe idle"

    with ImapSource(mailbox) as source:
        for folder in mailbox.folders:
            status = source.select(folder)
            state = states[folder]
            if status.uidvalidity != state["uidvalidity"] or source.new_uids(state["last_uid"]):
                return None
    return list(mailbox.folders)


def _poll_noted(
    reader: Reader, mailbox: str, folders: list[str], now: datetime, real_now: datetime
) -> list[tuple[str, dict]]:
    """The writes of a poll that found nothing: each folder's and the mailbox's last successful poll, unless a daemon
    took the mailbox's lease meanwhile (its own poll notes it then)."""
    unheld = "NOT EXISTS (SELECT 1 FROM mailboxlease WHERE mailbox = :m AND holder IS NOT NULL AND expires_at > :real)"
    params = {"now": reader.time(now), "m": mailbox, "real": reader.time(real_now)}
    statements = [
        (
            "UPDATE mailboxstate SET last_success_at = :now, last_error = '' "
            f"WHERE mailbox = :m AND folder = :f AND {unheld}",
            {**params, "f": folder},
        )
        for folder in folders
    ]
    statements.append(
        (
            "UPDATE mailboxhealth SET last_success_at = :now, failing_since = NULL, consecutive_failures = 0, "
            f"retry_at = NULL, alerted_at = NULL WHERE mailbox = :m AND {unheld}",
            params,
        )
    )
    return statements
