from mailbridge.lifecycle import MailKind, plan_automatic_message, plan_customer_message
from mailbridge.models import TicketStatus


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
