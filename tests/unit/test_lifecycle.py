from mailbridge.decisions.kinds import MailKind, TicketStatus
from mailbridge.decisions.lifecycle import plan_automatic_message, plan_customer_message


def test_new_ticket_gets_a_receipt():
    transition = plan_customer_message(None, may_auto_reply=True, silent=False)
    assert transition.new_status is TicketStatus.NEW and transition.mails == (MailKind.RECEIPT,)


def test_auto_reply_gets_no_receipt():
    assert plan_customer_message(None, may_auto_reply=False, silent=False).mails == ()


def test_silent_import_sends_nothing():
    assert plan_customer_message(None, may_auto_reply=True, silent=True).mails == ()


def test_reply_to_closed_ticket_reopens_it():
    assert plan_customer_message(TicketStatus.CLOSED, may_auto_reply=True, silent=False).new_status is TicketStatus.OPEN


def test_reply_to_waiting_ticket_reopens_it_without_receipt():
    transition = plan_customer_message(TicketStatus.WAITING, may_auto_reply=True, silent=False)
    assert transition.new_status is TicketStatus.OPEN and transition.mails == ()


def test_reply_to_open_ticket_keeps_status():
    assert plan_customer_message(TicketStatus.OPEN, may_auto_reply=True, silent=False).new_status is None


def test_automatic_message_never_changes_an_existing_ticket():
    transition = plan_automatic_message(TicketStatus.WAITING)
    assert transition.new_status is None and transition.mails == ()


# --- issue 4: agent status changes, auto-close ---

from datetime import UTC, datetime, timedelta  # noqa: E402

import pytest  # noqa: E402

from mailbridge.base.errors import CommandError  # noqa: E402
from mailbridge.decisions.lifecycle import plan_auto_close, plan_status_change  # noqa: E402

NOW = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
S = TicketStatus


def test_reply_to_waiting_ticket_reopens_it_without_a_receipt():
    transition = plan_customer_message(S.WAITING, may_auto_reply=True, silent=False)
    assert transition.new_status is S.OPEN and transition.mails == ()


@pytest.mark.parametrize("target", [S.OPEN, S.WAITING, S.PENDING1, S.PENDING2])
def test_first_move_out_of_new_sends_handling_started(target):
    transition = plan_status_change(S.NEW, target)
    assert transition.new_status is target and transition.mails == (MailKind.HANDLING_STARTED,)


@pytest.mark.parametrize("target", [S.CLOSED, S.SPAM])
def test_closing_or_spam_from_new_sends_nothing(target):
    assert plan_status_change(S.NEW, target).mails == ()


def test_answered_and_closed_from_new_in_one_reply_asks_for_a_rating():
    """An agent's answer with `#close` on a new ticket: the work was done, so the survey goes out (no notice)."""
    assert plan_status_change(S.NEW, S.CLOSED, answered=True).mails == (MailKind.SURVEY,)
    assert plan_status_change(S.NEW, S.SPAM, answered=True).mails == ()


@pytest.mark.parametrize("target", [S.OPEN, S.WAITING, S.PENDING1, S.PENDING2])
def test_first_move_out_of_new_with_an_answer_sends_no_handling_notice(target):
    transition = plan_status_change(S.NEW, target, answered=True)
    assert transition.new_status is target and transition.mails == ()


@pytest.mark.parametrize(
    "status, target",
    [
        (S.OPEN, S.WAITING),
        (S.WAITING, S.OPEN),
        (S.OPEN, S.PENDING1),
        (S.PENDING1, S.PENDING2),
        (S.PENDING2, S.CLOSED),
        (S.CLOSED, S.OPEN),
        (S.SPAM, S.OPEN),
        (S.OPEN, S.SPAM),
        (S.WAITING, S.CLOSED),
    ],
)
def test_allowed_changes_later_send_no_handling_notice(status, target):
    transition = plan_status_change(status, target)
    assert transition.new_status is target and MailKind.HANDLING_STARTED not in transition.mails


@pytest.mark.parametrize(
    "status, asks", [(S.OPEN, True), (S.WAITING, True), (S.PENDING2, True), (S.NEW, False), (S.SPAM, False)]
)
def test_closing_asks_for_a_rating_unless_spam_or_unhandled(status, asks):
    assert (MailKind.SURVEY in plan_status_change(status, S.CLOSED).mails) is asks


@pytest.mark.parametrize("status, target", [(S.OPEN, S.NEW), (S.CLOSED, S.SPAM), (S.SPAM, S.WAITING)])
def test_forbidden_change_is_refused(status, target):
    with pytest.raises(CommandError):
        plan_status_change(status, target)


def test_same_status_is_no_change():
    assert plan_status_change(S.OPEN, S.OPEN).new_status is None


def test_change_records_the_given_reason():
    assert plan_status_change(S.OPEN, S.WAITING, reason="answered by phone").reason == "answered by phone"


def test_waiting_ticket_closes_after_five_days():
    transition = plan_auto_close(S.WAITING, NOW - timedelta(days=5), NOW, 5)
    assert transition.new_status is S.CLOSED and transition.mails == (MailKind.AUTO_CLOSED, MailKind.SURVEY)


def test_waiting_ticket_stays_open_a_minute_before_five_days():
    assert plan_auto_close(S.WAITING, NOW - timedelta(days=5) + timedelta(minutes=1), NOW, 5) is None


@pytest.mark.parametrize("status", [S.NEW, S.OPEN, S.PENDING1, S.PENDING2, S.CLOSED, S.SPAM])
def test_only_waiting_tickets_auto_close(status):
    assert plan_auto_close(status, NOW - timedelta(days=50), NOW, 5) is None


def test_contact_override_of_thirty_days():
    assert plan_auto_close(S.WAITING, NOW - timedelta(days=29), NOW, 30) is None
    assert plan_auto_close(S.WAITING, NOW - timedelta(days=30), NOW, 30) is not None


def test_agent_answer_to_a_closed_ticket_sets_it_waiting():
    from mailbridge.decisions.lifecycle import plan_status_change

    transition = plan_status_change(TicketStatus.CLOSED, TicketStatus.WAITING)
    assert transition.new_status is TicketStatus.WAITING and transition.mails == ()
