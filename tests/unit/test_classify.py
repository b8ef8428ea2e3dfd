import pytest

from mailbridge.decisions.inbound.classify import classify, may_auto_reply
from mailbridge.decisions.kinds import MessageKind
from tests.unit.helpers import parsed

OURS = frozenset({"support@shop.example"})


def test_plain_customer_mail_is_customer():
    assert classify(parsed(), OURS) is MessageKind.CUSTOMER


@pytest.mark.parametrize(
    "headers",
    [
        {"auto-submitted": "auto-replied"},
        {"auto-submitted": "auto-generated"},
        {"precedence": "bulk"},
        {"precedence": "junk"},
        {"precedence": "list"},
        {"list-id": "<news.example.org>"},
        {"list-unsubscribe": "<mailto:u@example.org>"},
        {"x-auto-response-suppress": "All"},
        {"return-path": "<>"},
    ],
)
def test_automatic_mail_gets_no_auto_reply(headers):
    message = parsed(headers=headers)
    kind = classify(message, OURS)
    assert kind is MessageKind.AUTO_REPLY
    assert not may_auto_reply(kind, message)


def test_auto_submitted_no_is_a_person():
    assert classify(parsed(headers={"auto-submitted": "no"}), OURS) is MessageKind.CUSTOMER


def test_delivery_status_notification_is_a_bounce():
    message = parsed(headers={"content-type": 'multipart/report; report-type=delivery-status; boundary="x"'})
    assert classify(message, OURS) is MessageKind.BOUNCE


def test_mailer_daemon_sender_is_a_bounce():
    assert classify(parsed(from_addr="mailer-daemon@mx.example.org"), OURS) is MessageKind.BOUNCE


def test_our_own_address_is_an_echo():
    assert classify(parsed(from_addr="support@shop.example"), OURS) is MessageKind.ECHO


def test_our_loop_header_is_an_echo():
    assert classify(parsed(headers={"x-mailbridge-loop": "abc"}), OURS) is MessageKind.ECHO


def test_mail_without_sender_gets_no_auto_reply():
    message = parsed(from_addr=None)
    assert not may_auto_reply(classify(message, OURS), message)


def test_sender_with_a_quoted_local_part_gets_auto_replies():
    message = parsed(from_addr='"big bug bb"@bug.com')
    assert may_auto_reply(classify(message, OURS), message)


@pytest.mark.parametrize(
    "address", ['"a,b"@bug.com', '"a\\"b"@bug.com', "a b@bug.com", "a@b@bug.com", '"a\r\nb"@bug.com']
)
def test_sender_address_we_cannot_write_safely_gets_no_auto_reply(address):
    message = parsed(from_addr=address)
    assert not may_auto_reply(classify(message, OURS), message)


@pytest.mark.parametrize("report_type", ["feedback-report", "disposition-notification"])
def test_other_reports_are_automatic(report_type):
    message = parsed(headers={"content-type": f"multipart/report; report-type={report_type}"})
    assert classify(message, OURS) is MessageKind.AUTO_REPLY


def test_mail_carrying_our_own_signed_message_id_is_an_echo():
    message = parsed(message_id="<ours@shop.example>")
    assert classify(message, OURS, lambda mid: mid == "<ours@shop.example>") is MessageKind.ECHO
