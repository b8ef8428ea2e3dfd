"""Decision: when a failing mailbox is tried again, and when its silence is reported. Pure.

`runtime.jobs` reads a MailboxHealth row, asks `retry_delay` and `plan_alert`, and writes the
answer back (store/mailbox_state.py); `compose_alert` builds the admin mail it enqueues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from mailbridge.decisions.outgoing.compose import compose_admin_notice

FIRST_RETRY = timedelta(seconds=15)
LONGEST_RETRY = timedelta(minutes=30)


@dataclass(frozen=True)
class MailboxAlert:
    mailbox: str
    silent_since: datetime  # last successful sync, or the start of the failures when there was none
    last_error: str
    dedupe_key: str  # one per mailbox and failure episode


def retry_delay(failures: int, jitter: float) -> timedelta:
    """Back off 15 s, 30 s, 1 min ... up to 30 min; `jitter` in [0, 1) spreads it over 50-100 %."""
    base = min(FIRST_RETRY * (2 ** min(max(failures - 1, 0), 16)), LONGEST_RETRY)
    return base * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))


def plan_alert(
    *,
    mailbox: str,
    last_success_at: datetime | None,
    failing_since: datetime | None,
    alerted_at: datetime | None,
    last_error: str,
    alert_after: timedelta,
    now: datetime,
) -> MailboxAlert | None:
    """Report a failing mailbox once per failure episode, when it has been silent for `alert_after`."""
    if failing_since is None or (alerted_at is not None and alerted_at >= failing_since):
        return None
    silent_since = last_success_at or failing_since
    if now - silent_since < alert_after:
        return None
    key = f"mailbox-alert:{mailbox}:{failing_since.strftime('%Y%m%dT%H%M%S')}"
    return MailboxAlert(mailbox, silent_since, last_error, key)


def compose_alert(
    alert: MailboxAlert,
    *,
    from_name: str,
    from_address: str,
    admin_address: str,
    message_id: str,
    now: datetime,
    instance_id: str,
) -> EmailMessage:
    """Build the admin mail for an alert."""
    return compose_admin_notice(
        from_name=from_name,
        from_address=from_address,
        to_address=admin_address,
        message_id=message_id,
        now=now,
        instance_id=instance_id,
        subject=f"mailbridge: mailbox {alert.mailbox} has not synced since {alert.silent_since:%Y-%m-%d %H:%M} UTC",
        text=f"mailbridge could not read the mailbox {alert.mailbox!r} since {alert.silent_since.isoformat()}.\n\n"
        f"Last error: {alert.last_error or '(none recorded)'}\n\n"
        "Mail sent to it is waiting on the server and is not lost. Check the password or token, the\n"
        "certificate and the server, then run `mailbridge status`. You get this mail once per outage.\n",
    )
