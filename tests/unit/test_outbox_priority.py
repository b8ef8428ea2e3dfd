"""Which outgoing mail goes first in a backlog: decisions.outbox_priority."""

from __future__ import annotations

from mailbridge.decisions.kinds import MailKind
from mailbridge.decisions.outbox_priority import (
    PRIORITIES,
    UNKNOWN_KIND_PRIORITY,
    MailPriority,
    mail_priority,
)
from mailbridge.store.models import OutboxMail


def test_admin_alerts_go_before_everything_else():
    for alert in (MailKind.MAILBOX_ALERT, MailKind.JOB_ALERT, MailKind.FLOOD_ALERT, MailKind.SLA_WARNING):
        assert mail_priority(alert) is MailPriority.ALERT
        assert mail_priority(alert) < mail_priority(MailKind.AGENT_NOTIFICATION)


def test_agent_answers_and_notifications_go_before_receipts():
    for kind in (MailKind.AGENT_REPLY, MailKind.AGENT_NOTIFICATION, MailKind.AGENT_NOTICE, MailKind.AGENT_FORWARD):
        assert mail_priority(kind) < mail_priority(MailKind.RECEIPT)


def test_forwarded_customer_mail_goes_before_receipts():
    assert mail_priority(MailKind.FORWARD_UNSAVED) < mail_priority(MailKind.RECEIPT)


def test_receipts_notices_and_surveys_are_bulk():
    bulk = (
        MailKind.RECEIPT,
        MailKind.HANDLING_STARTED,
        MailKind.AUTO_CLOSED,
        MailKind.SURVEY,
        MailKind.SURVEY_THANKS,
    )
    assert {mail_priority(kind) for kind in bulk} == {MailPriority.BULK}


def test_unknown_kind_waits_behind_alerts_but_not_behind_receipts():
    unknown = mail_priority("written_by_a_newer_version")
    assert mail_priority(MailKind.MAILBOX_ALERT) < unknown < mail_priority(MailKind.RECEIPT)


def test_every_mail_kind_is_placed_on_purpose():
    assert set(PRIORITIES) == set(MailKind)


def test_a_row_written_without_a_priority_waits_like_an_unknown_kind():
    # The column's default (and migration 0027's server default) for a row a test or an older writer adds by hand.
    assert OutboxMail(kind="receipt").priority == UNKNOWN_KIND_PRIORITY
