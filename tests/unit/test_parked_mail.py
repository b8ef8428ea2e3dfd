"""What an admin may do with parked mail, and the text the row keeps (decisions/parked_mail.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbridge.decisions.kinds import MessageKind, OutboxStatus
from mailbridge.decisions.parked_mail import (
    cancel_refusal,
    cancelled_error,
    dismiss_refusal,
    dismissed_defects,
    kind_before_dismissal,
    retry_refusal,
)

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("status", [OutboxStatus.QUEUED, OutboxStatus.HELD, OutboxStatus.SENDING])
def test_unsent_mail_can_be_cancelled(status):
    assert cancel_refusal(7, status) is None


@pytest.mark.parametrize("status", [OutboxStatus.SENT, OutboxStatus.BOUNCED])
def test_mail_that_went_out_cannot_be_cancelled(status):
    assert (
        cancel_refusal(7, status) == f"outbox item 7 is {status}, not queued or held: only unsent mail can be cancelled"
    )


def test_cancelling_twice_says_so():
    assert cancel_refusal(7, OutboxStatus.CANCELLED) == "outbox item 7 is cancelled already"


def test_an_answer_taken_back_cannot_be_retried_other_mail_can():
    assert retry_refusal(7, taken_back=False, ticket_number="1041") is None
    assert retry_refusal(7, taken_back=True, ticket_number="1041") == (
        "outbox item 7 is an agent's answer taken back in its undo window (kept as a note on ticket 1041): "
        "it is never sent; answer the ticket again instead"
    )


def test_cancelled_error_names_who_and_when_then_keeps_the_error():
    assert cancelled_error("550 5.1.1 no such user", "admin:ops", NOW) == (
        "cancelled by admin:ops at 2026-12-03 09:30:00 UTC; last error: 550 5.1.1 no such user"
    )
    assert cancelled_error("", "admin:ops", NOW) == "cancelled by admin:ops at 2026-12-03 09:30:00 UTC"


def test_cancelled_error_fits_the_column():
    assert len(cancelled_error("x" * 600, "admin:ops", NOW)) == 500


@pytest.mark.parametrize("kind", [MessageKind.QUARANTINED, MessageKind.TOO_LARGE])
def test_quarantined_and_too_large_messages_can_be_dismissed(kind):
    assert dismiss_refusal(3, kind) is None


def test_other_messages_cannot_be_dismissed():
    assert dismiss_refusal(3, MessageKind.CUSTOMER) == (
        "message 3 is customer, not quarantined or too_large: only those can be dismissed"
    )
    assert dismiss_refusal(3, MessageKind.DISMISSED) == "message 3 is dismissed already"


def test_dismissed_defects_keep_the_reason_first_and_the_kind_it_had():
    defects = dismissed_defects("ValueError: parser bug\nsecond defect", MessageKind.QUARANTINED, "admin:ops", NOW)
    assert defects.splitlines() == [
        "ValueError: parser bug",
        "second defect",
        "dismissed quarantined by admin:ops at 2026-12-03 09:30:00 UTC",
    ]
    assert kind_before_dismissal(defects) == MessageKind.QUARANTINED


def test_a_message_without_defects_gets_only_the_dismissal_line():
    defects = dismissed_defects("", MessageKind.TOO_LARGE, "admin:ops", NOW)
    assert defects == "dismissed too_large by admin:ops at 2026-12-03 09:30:00 UTC"
    assert kind_before_dismissal(defects) == MessageKind.TOO_LARGE


def test_a_message_never_dismissed_has_no_kind_before_dismissal():
    assert kind_before_dismissal("ValueError: parser bug") is None
    assert kind_before_dismissal("") is None


@pytest.mark.parametrize("status", [OutboxStatus.HELD, OutboxStatus.QUEUED, OutboxStatus.CANCELLED])
def test_unsent_mail_can_be_retried(status):
    assert retry_refusal(7, taken_back=False, ticket_number=None, status=status) is None


@pytest.mark.parametrize("status", [OutboxStatus.SENT, OutboxStatus.BOUNCED])
def test_mail_sent_already_is_retried_only_with_resend(status):
    assert retry_refusal(7, taken_back=False, ticket_number=None, status=status) == (
        f"outbox item 7 is {status} already; `outbox retry 7 --resend` sends the same mail again"
    )
    assert retry_refusal(7, taken_back=False, ticket_number=None, status=status, resend=True) is None


def test_mail_being_sent_is_never_retried_by_hand():
    for resend in (False, True):
        refusal = retry_refusal(7, taken_back=False, ticket_number=None, status=OutboxStatus.SENDING, resend=resend)
        assert refusal is not None and refusal.startswith("outbox item 7 is being sent now")


def test_an_answer_taken_back_is_not_resent_either():
    refusal = retry_refusal(7, taken_back=True, ticket_number=None, status=OutboxStatus.SENT, resend=True)
    assert refusal is not None and "taken back" in refusal
