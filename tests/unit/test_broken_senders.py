"""Issue 15: broken or unusual senders, as real mail writes them, are read and flagged, never lost."""

from __future__ import annotations

import pytest

from mailbridge.decisions.inbound.classify import classify, may_auto_reply
from mailbridge.decisions.inbound.parse import is_malformed, parse_message
from mailbridge.decisions.kinds import MessageKind

OURS = frozenset({"support@shop.example"})


def mail(headers: str, body: str = "Hello, my order has not arrived.\r\n") -> bytes:
    head = "\r\n".join(line.strip() for line in headers.strip().splitlines())
    return (head + "\r\nTo: support@shop.example\r\nSubject: Order 1234\r\n\r\n" + body).encode("utf-8")


def test_empty_from_falls_back_to_sender_and_is_flagged():
    parsed = parse_message(mail("From: \nSender: Newsletter Tool <tool@mailer.example>\nReply-To: ann@example.org"))
    assert (parsed.from_addr, parsed.from_name) == ("tool@mailer.example", "Newsletter Tool")
    assert "missing-from" in parsed.defects and "from-taken-from:sender" in parsed.defects
    assert is_malformed(parsed)


def test_missing_from_falls_back_to_sender():
    parsed = parse_message(mail("Sender: Anna Rossi <anna@example.org>"))
    assert (parsed.from_addr, parsed.from_name) == ("anna@example.org", "Anna Rossi")
    assert "from-taken-from:sender" in parsed.defects and is_malformed(parsed)


def test_missing_from_and_sender_fall_back_to_reply_to():
    parsed = parse_message(mail("Reply-To: Anna Rossi <Anna@Example.org>"))
    assert (parsed.from_addr, parsed.from_name) == ("anna@example.org", "Anna Rossi")
    assert "from-taken-from:reply-to" in parsed.defects and is_malformed(parsed)


def test_sender_without_an_address_does_not_stand_in():
    parsed = parse_message(mail("From: \nSender: undisclosed\nReply-To: <anna@example.org>"))
    assert parsed.from_addr == "anna@example.org" and "from-taken-from:reply-to" in parsed.defects


def test_no_address_anywhere_gives_no_sender_and_is_flagged():
    parsed = parse_message(mail("Date: Mon, 23 Nov 2026 09:59:51 +0100"))
    assert parsed.from_addr is None and parsed.defects == ("missing-from",)
    assert is_malformed(parsed)


def test_empty_address_with_a_name_keeps_the_name_and_is_flagged():
    parsed = parse_message(mail('From: "我" <>'))
    assert (parsed.from_addr, parsed.from_name) == (None, "我")
    assert "unparseable-from" in parsed.defects and is_malformed(parsed)


def test_empty_address_with_a_name_takes_the_reply_to_address_and_keeps_the_name():
    parsed = parse_message(mail('From: "=?utf-8?b?5oiR?=" <>\nReply-To: wo@example.cn'))
    assert (parsed.from_addr, parsed.from_name) == ("wo@example.cn", "我")
    assert "unparseable-from" in parsed.defects and "from-taken-from:reply-to" in parsed.defects


def test_empty_address_gets_no_receipt():
    parsed = parse_message(mail('From: "我" <>'))
    assert not may_auto_reply(classify(parsed, OURS), parsed)


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON (Mail Delivery System)",
        "Mail Delivery Subsystem <MAILER-DAEMON>",
        "MAILER-DAEMON",
        "postmaster (Mail Delivery System)",
    ],
)
def test_mail_daemon_without_a_domain_is_a_bounce(sender):
    body = (
        "This is the mail system at host mx.example.org.\r\n\r\nI'm sorry to have to inform you that your message\r\n"
    )
    parsed = parse_message(
        f"From: {sender}\r\nTo: support@shop.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n{body}".encode()
    )
    assert parsed.from_addr in ("mailer-daemon", "postmaster")
    assert any(d.startswith("from-without-domain:") for d in parsed.defects)
    assert not is_malformed(parsed)
    assert classify(parsed, OURS) is MessageKind.BOUNCE


def test_a_bare_word_that_names_no_mail_daemon_is_no_sender():
    parsed = parse_message(mail("From: undisclosed-recipients"))
    assert parsed.from_addr is None and "unparseable-from" in parsed.defects


@pytest.mark.parametrize(
    "header, expected",
    [
        ("<name@yahoo.com.>", ("", "name@yahoo.com")),
        ("Name Surname <Name@Yahoo.com.>", ("Name Surname", "name@yahoo.com")),
        ("name@yahoo.com.", ("", "name@yahoo.com")),
        ('"Surname, Name" <name@mail.example.co.uk.>', ("Surname, Name", "name@mail.example.co.uk")),
    ],
)
def test_trailing_dot_of_the_domain_is_stripped(header, expected):
    parsed = parse_message(mail(f"From: {header}"))
    assert (parsed.from_name, parsed.from_addr) == expected
    assert "trailing-dot:from" in parsed.defects and not is_malformed(parsed)


def test_stripped_address_may_get_a_receipt():
    parsed = parse_message(mail("From: Name <name@yahoo.com.>"))
    assert may_auto_reply(classify(parsed, OURS), parsed)


def test_trailing_dot_in_recipients_is_stripped_too():
    parsed = parse_message(mail("From: a@example.org\nCc: b@example.org., C <c@example.org.>"))
    assert parsed.cc_addrs == ("b@example.org", "c@example.org")


def test_dot_inside_a_display_name_is_left_alone():
    parsed = parse_message(mail("From: Anna R. <anna@example.org>"))
    assert (parsed.from_name, parsed.from_addr) == ("Anna R.", "anna@example.org")
    assert parsed.defects == ()


def test_several_from_addresses_store_the_first_and_are_flagged():
    parsed = parse_message(mail("From: Anna Rossi <anna@example.org>, boss@example.org"))
    assert (parsed.from_addr, parsed.from_name) == ("anna@example.org", "Anna Rossi")
    assert "several-from-addresses:2" in parsed.defects
    assert is_malformed(parsed)


def test_several_from_addresses_with_a_sender_are_still_flagged():
    # RFC 5322 §3.6.2 allows it with a Sender, but the mail then has no single author to trust.
    parsed = parse_message(mail("From: anna@example.org, luca@example.org\nSender: anna@example.org"))
    assert parsed.from_addr == "anna@example.org" and is_malformed(parsed)


def test_one_address_twice_in_from_is_not_several():
    parsed = parse_message(mail("From: Anna <anna@example.org>, anna@example.org"))
    assert parsed.from_addr == "anna@example.org" and not any(d.startswith("several") for d in parsed.defects)
