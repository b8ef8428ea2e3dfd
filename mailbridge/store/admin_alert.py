"""I/O: the admin alert of a failing mailbox or daemon job, queued in the caller's session.

Called by store/mailbox_state.py and store/job_health.py in the transaction that records the failure, with the
alert `decisions.mailbox_health.plan_alert` planned. The mail goes out through the outbox, most urgent kind first;
its dedupe key (one per mailbox or job and failure episode) keeps a period to one mail.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from mailbridge.decisions.kinds import MailKind
from mailbridge.decisions.mailbox_health import Failing, HealthAlert, compose_alert
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.store import outbox_queue

log = logging.getLogger(__name__)
KINDS = {Failing.MAILBOX: MailKind.MAILBOX_ALERT, Failing.JOB: MailKind.JOB_ALERT}


def enqueue_alert(ctx: MailContext, session: Session, alert: HealthAlert, now: datetime) -> None:
    """Log the alert and queue its mail to `[support] admin_address`; with no admin address it is only logged."""
    log.error("admin alert: %s=%s failing since=%s error=%s", alert.about, alert.name, alert.since, alert.last_error)
    support = ctx.support
    if not support.admin_address:
        return
    mail = compose_alert(
        alert,
        from_name=support.from_name,
        from_address=support.from_address,
        admin_address=support.admin_address,
        message_id=ctx.new_message_id(support.from_address),
        now=now,
        instance_id=ctx.instance_id,
    )
    outbox_queue.enqueue(
        session=session,
        mail=mail,
        sign=ctx.sign,
        dedupe_key=alert.dedupe_key,
        kind=KINDS[alert.about],
        ticket_id=None,
        now=now,
    )
