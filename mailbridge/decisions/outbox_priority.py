"""Decision: which outgoing mail goes first when the outbox holds a backlog, by its kind (`MailKind`).

`store.outbox_queue.claim_due` orders its claims by `mail_priority` (a lower number goes first), so an admin
alert or an agent's answer never waits behind a first sync's thousands of receipts.
"""

from __future__ import annotations

from enum import IntEnum

from mailbridge.decisions.kinds import MailKind


class MailPriority(IntEnum):
    """Lower goes first."""

    ALERT = 0  # the admin or an agent must act: a silent mailbox, a failing job, a flood, an SLA about to be missed
    PERSON = 1  # a person wrote it or waits for it: an agent's answer, a notification, a forward
    BULK = 2  # automatic customer mail that can wait a minute: receipts, status notices, surveys


# Every MailKind, placed on purpose: tests/unit/test_outbox_priority.py fails for a kind left out.
PRIORITIES: dict[str, MailPriority] = {
    MailKind.MAILBOX_ALERT: MailPriority.ALERT,
    MailKind.JOB_ALERT: MailPriority.ALERT,
    MailKind.FLOOD_ALERT: MailPriority.ALERT,
    MailKind.SLA_WARNING: MailPriority.ALERT,
    MailKind.AGENT_REPLY: MailPriority.PERSON,
    MailKind.AGENT_NOTIFICATION: MailPriority.PERSON,
    MailKind.AGENT_NOTICE: MailPriority.PERSON,
    MailKind.AGENT_FORWARD: MailPriority.PERSON,
    MailKind.ACTION_MAIL: MailPriority.PERSON,
    MailKind.FORWARD_UNSAVED: MailPriority.PERSON,
    MailKind.RECEIPT: MailPriority.BULK,
    MailKind.HANDLING_STARTED: MailPriority.BULK,
    MailKind.AUTO_CLOSED: MailPriority.BULK,
    MailKind.AUTO_CLOSE_REMINDER: MailPriority.BULK,
    MailKind.SURVEY: MailPriority.BULK,
    MailKind.SURVEY_THANKS: MailPriority.BULK,
    MailKind.MERGED: MailPriority.BULK,
}
# A kind this version does not know (a row a newer version wrote): ahead of the bulk, never ahead of an alert.
UNKNOWN_KIND_PRIORITY = MailPriority.PERSON


def mail_priority(kind: str) -> MailPriority:
    """The priority of an outbox row of this kind."""
    return PRIORITIES.get(kind, UNKNOWN_KIND_PRIORITY)
