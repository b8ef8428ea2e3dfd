"""Which outgoing mail goes first in a backlog: decisions.outbox_priority."""

from __future__ import annotations

from mailbridge.decisions.kinds import MailKind
from mailbridge.decisions.outbox_priority import (
    PRIORITIES,
    MailPriority,
    mail_priority,
    priorities_by_kind,
)


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


def test_the_query_mapping_gives_each_kind_its_priority_as_a_plain_number():
    mapping = priorities_by_kind()
    assert mapping["mailbox_alert"] == 0 and mapping["agent_reply"] == 1 and mapping["receipt"] == 2
    assert all(type(key) is str and type(value) is int for key, value in mapping.items())
