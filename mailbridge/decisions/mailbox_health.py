"""Decision: when a failing mailbox or daemon job is tried again, and when its failure is reported. Pure.

`runtime.jobs` reads a MailboxHealth or JobHealth row, asks `retry_delay` and `plan_alert`, and writes the
answer back (store/mailbox_state.py, store/job_health.py); `compose_alert` builds the admin mail that
store/admin_alert.py enqueues. One rule and one mail for both: a mailbox that does not sync, and a daemon job
(the outbox delivery, a timer) or a supervised loop that keeps failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum

from mailbridge.decisions.outgoing.compose import compose_admin_notice

FIRST_RETRY = timedelta(seconds=15)
LONGEST_RETRY = timedelta(minutes=30)


class Failing(StrEnum):
    """What an admin alert is about."""

    MAILBOX = "mailbox"
    JOB = "job"  # a daemon job (deliver_outbox, close_idle_tickets, check_sla) or a loop (loop:poll:NAME ...)


@dataclass(frozen=True)
class HealthAlert:
    about: Failing
    name: str  # the mailbox's or the job's name
    since: datetime  # a mailbox: its last successful sync (or its first failure); a job: its first failure
    last_error: str
    dedupe_key: str  # one per mailbox or job and failure episode


def retry_delay(failures: int, jitter: float) -> timedelta:
    """Back off 15 s, 30 s, 1 min ... up to 30 min; `jitter` in [0, 1) spreads it over 50-100 %."""
    base = min(FIRST_RETRY * (2 ** min(max(failures - 1, 0), 16)), LONGEST_RETRY)
    return base * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))


def plan_alert(
    *,
    about: Failing,
    name: str,
    last_success_at: datetime | None,
    failing_since: datetime | None,
    alerted_at: datetime | None,
    last_error: str,
    alert_after: timedelta,
    now: datetime,
) -> HealthAlert | None:
    """Report a failing mailbox or job once per failure episode, once it has been failing for `alert_after`."""
    if failing_since is None or (alerted_at is not None and alerted_at >= failing_since):
        return None
    # A mailbox counts from its last sync: mail has waited on the server since then. A job counts from its first
    # failure: a job's last success may be days old when the daemon was stopped, and that is no failure of the job.
    since = (last_success_at or failing_since) if about is Failing.MAILBOX else failing_since
    if now - since < alert_after:
        return None
    key = f"{about}-alert:{name}:{failing_since.strftime('%Y%m%dT%H%M%S')}"
    return HealthAlert(about, name, since, last_error, key)


def compose_alert(
    alert: HealthAlert,
    *,
    from_name: str,
    from_address: str,
    admin_address: str,
    message_id: str,
    now: datetime,
    instance_id: str,
) -> EmailMessage:
    """Build the admin mail for an alert."""
    subject, text = (_mailbox_text if alert.about is Failing.MAILBOX else _job_text)(alert)
    return compose_admin_notice(
        from_name=from_name,
        from_address=from_address,
        to_address=admin_address,
        message_id=message_id,
        now=now,
        instance_id=instance_id,
        subject=subject,
        text=text,
    )


def _mailbox_text(alert: HealthAlert) -> tuple[str, str]:
    return (
        f"mailbridge: mailbox {alert.name} has not synced since {alert.since:%Y-%m-%d %H:%M} UTC",
        f"mailbridge could not read the mailbox {alert.name!r} since {alert.since.isoformat()}.\n\n"
        f"Last error: {alert.last_error or '(none recorded)'}\n\n"
        "Mail sent to it is waiting on the server and is not lost. Check the password or token, the\n"
        "certificate and the server, then run `mailbridge status`. You get this mail once per outage.\n",
    )


def _job_text(alert: HealthAlert) -> tuple[str, str]:
    return (
        f"mailbridge: daemon job {alert.name} failing since {alert.since:%Y-%m-%d %H:%M} UTC",
        f"mailbridge's daemon job {alert.name!r} has failed every time it ran since {alert.since.isoformat()}\n"
        "(a loop: it crashed every time before it finished a round).\n\n"
        f"Last error: {alert.last_error or '(none recorded)'}\n\n"
        "The daemon runs it again after a growing pause (up to 30 minutes), and what it has not done waits in\n"
        "the database: nothing is lost. Check the database, the SMTP server and the daemon's log, then run\n"
        "`mailbridge status`. You get this mail once per failure period.\n\n"
        "This mail went out through the outbox like all mail: when the failing job is the outbox delivery\n"
        "(deliver_outbox or loop:deliver_outbox), it could leave only once delivery worked again, so that job\n"
        "may have recovered by now; `mailbridge status` tells.\n",
    )
