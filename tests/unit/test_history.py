"""decisions.history: whom an archived answer of ours was written to, and how an imported ticket is left."""

from datetime import UTC, datetime

from mailbridge.decisions.history import TicketHistory, answered_customer, mail_time, settle_ticket
from mailbridge.decisions.kinds import TicketStatus
from tests.unit.helpers import parsed

OWN = frozenset({"support@shop.example", "sales@shop.example"})
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DEC_1 = datetime(2025, 12, 1, tzinfo=UTC)
DEC_20 = datetime(2025, 12, 20, tzinfo=UTC)


def history(status=TicketStatus.NEW, last=DEC_1, last_is_answer=False) -> TicketHistory:
    return TicketHistory(status=status, first_at=last, last_at=last, last_is_answer=last_is_answer)


def test_our_mail_to_a_customer_answers_that_customer():
    mail = parsed(from_addr="support@shop.example", to_addrs=("Anna@Example.org",))
    assert answered_customer(mail, OWN) == "anna@example.org"


def test_our_addresses_among_the_recipients_are_passed_over():
    mail = parsed(from_addr="support@shop.example", to_addrs=("sales@shop.example",), cc_addrs=("bob@example.net",))
    assert answered_customer(mail, OWN) == "bob@example.net"


def test_our_sub_address_counts_as_ours():
    mail = parsed(from_addr="support+sales@shop.example", to_addrs=("anna@example.org",))
    assert answered_customer(mail, OWN) == "anna@example.org"


def test_customer_mail_is_no_answer():
    assert answered_customer(parsed(), OWN) is None


def test_our_mail_to_ourselves_only_is_no_answer():
    assert answered_customer(parsed(from_addr="support@shop.example", to_addrs=("sales@shop.example",)), OWN) is None


def test_our_automatic_mail_is_no_answer():
    receipt = parsed(
        from_addr="support@shop.example", to_addrs=("anna@example.org",), headers={"auto-submitted": "auto-replied"}
    )
    assert answered_customer(receipt, OWN) is None


def test_mail_time_is_its_date_never_later_than_now():
    assert mail_time(DEC_1, NOW) == DEC_1
    assert mail_time(datetime(2030, 1, 1, tzinfo=UTC), NOW) == NOW
    assert mail_time(None, NOW) == NOW


def test_status_closed_closes_at_the_last_message():
    decided = settle_ticket(history(last=DEC_20), TicketStatus.CLOSED, None)
    assert (decided.status, decided.closed_at) == (TicketStatus.CLOSED, DEC_20)


def test_closed_before_closes_only_older_tickets():
    cutoff = datetime(2025, 12, 10, tzinfo=UTC)
    assert settle_ticket(history(last=DEC_1), None, cutoff).status is TicketStatus.CLOSED
    assert settle_ticket(history(last=DEC_20), None, cutoff).status is None


def test_closed_before_with_status_closed_leaves_newer_tickets_open():
    cutoff = datetime(2025, 12, 10, tzinfo=UTC)
    newer = settle_ticket(history(last=DEC_20, last_is_answer=True), TicketStatus.CLOSED, cutoff)
    assert newer.status is TicketStatus.WAITING and newer.closed_at is None


def test_closed_before_with_another_status_gives_newer_tickets_that_status():
    cutoff = datetime(2025, 12, 10, tzinfo=UTC)
    assert settle_ticket(history(last=DEC_20), TicketStatus.OPEN, cutoff).status is TicketStatus.OPEN


def test_without_a_plan_a_ticket_answered_last_waits_on_the_customer():
    assert settle_ticket(history(last_is_answer=True), None, None).status is TicketStatus.WAITING


def test_without_a_plan_a_customer_message_after_our_answer_opens_the_ticket():
    assert settle_ticket(history(status=TicketStatus.WAITING), None, None).status is TicketStatus.OPEN


def test_without_a_plan_a_new_unanswered_ticket_stays_new():
    assert settle_ticket(history(), None, None).status is None


def test_without_a_plan_a_closed_ticket_stays_closed():
    assert settle_ticket(history(status=TicketStatus.CLOSED, last_is_answer=True), None, None).status is None


def test_spam_and_merged_tickets_are_never_changed():
    for status in (TicketStatus.SPAM, TicketStatus.MERGED):
        assert settle_ticket(history(status=status), TicketStatus.CLOSED, None).status is None
