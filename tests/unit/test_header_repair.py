"""Issue 15: header blocks cut short by a stray line; the headers after it are recovered, the body kept."""

from __future__ import annotations

from mailbridge.decisions.inbound.header_repair import repair_header_block
from mailbridge.decisions.inbound.parse import is_malformed, parse_message

HEADERS = (
    "From: Anna Rossi <anna@example.org>\r\n"
    "To: support@shop.example\r\n"
    "Subject: Order 1234 not arrived\r\n"
    "Date: Mon, 23 Nov 2026 09:59:51 +0100\r\n"
    "Message-ID: <order-1234@example.org>\r\n"
)
BODY = "Hello,\r\nmy order has not arrived yet.\r\n\r\nAnna\r\n"


def raw(text: str) -> bytes:
    return text.encode("utf-8")


def test_clean_mail_needs_no_repair():
    assert repair_header_block(raw(HEADERS + "\r\n" + BODY)) is None


def test_subject_wrapped_without_indentation_is_joined_and_the_headers_after_it_kept():
    message = raw(
        "From: Anna Rossi <anna@example.org>\r\n"
        "Subject: My order 1234 arrived damaged and I would like to send it back, how do\r\n"
        "I get a return label?\r\n"
        "To: support@shop.example\r\n"
        "Message-ID: <return-1234@example.org>\r\n"
        "\r\n" + BODY
    )
    parsed = parse_message(message)
    assert (
        parsed.subject == "My order 1234 arrived damaged and I would like to send it back, how do I get a return label?"
    )
    assert parsed.to_addrs == ("support@shop.example",) and parsed.message_id == "<return-1234@example.org>"
    assert parsed.text_body == BODY
    assert "header-repaired:unindented-line:subject" in parsed.defects and is_malformed(parsed)


def test_subject_wrapped_over_two_lines_is_joined():
    message = raw(
        "From: anna@example.org\r\nSubject: Rechnung\r\nNr. 2026-0042\r\nvom 23.11.\r\nDate: Mon, 23 Nov 2026 09:59:51 +0100\r\n"
        "\r\n" + BODY
    )
    parsed = parse_message(message)
    assert parsed.subject == "Rechnung Nr. 2026-0042 vom 23.11." and parsed.date is not None


def test_stray_line_before_from_keeps_from():
    message = raw(
        "Received: from mx1.example.org by mx.shop.example; Mon, 23 Nov 2026 09:59:58 +0100\r\n"
        "quite\r\n" + HEADERS + "\r\n" + BODY
    )
    parsed = parse_message(message)
    assert (parsed.from_addr, parsed.subject) == ("anna@example.org", "Order 1234 not arrived")
    assert parsed.text_body == BODY


def test_first_line_that_is_no_header_is_dropped():
    parsed = parse_message(raw("---- Original email message ----\r\n" + HEADERS + "\r\n" + BODY))
    assert (parsed.from_addr, parsed.from_name) == ("anna@example.org", "Anna Rossi")
    assert parsed.subject == "Order 1234 not arrived" and parsed.message_id == "<order-1234@example.org>"
    assert parsed.text_body.startswith("Hello,\r\nmy order")
    assert "header-repaired:leading-lines:1" in parsed.defects and is_malformed(parsed)


def test_blank_first_line_is_dropped():
    parsed = parse_message(raw("\r\n" + HEADERS + "\r\n" + BODY))
    assert parsed.from_addr == "anna@example.org" and parsed.subject == "Order 1234 not arrived"
    assert "header-repaired:leading-lines:1" in parsed.defects


def test_bare_lf_mail_is_repaired_too():
    message = ("-----Original Message-----\r\n" + HEADERS + "\r\n" + BODY).replace("\r\n", "\n")
    parsed = parse_message(raw(message))
    assert parsed.from_addr == "anna@example.org" and parsed.subject == "Order 1234 not arrived"


def test_mbox_separator_line_is_kept_and_the_stray_line_after_it_dropped():
    message = raw("From anna@example.org Mon Nov 23 09:59:51 2026\r\n--- forwarded ---\r\n" + HEADERS + "\r\n" + BODY)
    repair = repair_header_block(message)
    assert repair is not None and repair.raw.startswith(b"From anna@example.org Mon")
    assert parse_message(message).from_addr == "anna@example.org"


def test_body_right_after_the_headers_stays_body():
    # A missing blank line: the first line that is no header starts the body, as the parser reads it.
    message = raw(HEADERS + "Hello,\r\nmy order has not arrived.\r\n")
    assert repair_header_block(message) is None
    parsed = parse_message(message)
    assert parsed.subject == "Order 1234 not arrived" and parsed.text_body.startswith("Hello,")


def test_body_line_that_looks_like_an_unknown_header_stays_body():
    message = raw(HEADERS + "Hello,\r\nNote: the parcel number is 42.\r\n\r\nAnna\r\n")
    assert repair_header_block(message) is None


def test_many_lines_before_the_headers_are_not_taken_for_junk():
    message = raw("".join(f"line {n}\r\n" for n in range(5)) + HEADERS + "\r\n" + BODY)
    assert repair_header_block(message) is None


def test_text_without_headers_is_left_alone():
    assert repair_header_block(raw("just some text\r\nwith two lines\r\n")) is None
    assert repair_header_block(b"") is None


def test_only_the_header_block_is_changed():
    tail = "\r\n" + BODY + "To: not a header here\r\nunindented\r\nFrom: neither\r\n"
    message = raw("Subject: one\r\ntwo\r\nFrom: anna@example.org\r\n" + tail)
    repair = repair_header_block(message)
    assert repair is not None and repair.raw == raw("Subject: one\r\n two\r\nFrom: anna@example.org\r\n" + tail)


def test_header_repair_keeps_the_stored_bytes_unchanged_and_the_attachment_found():
    message = raw(
        "Subject: Invoice\r\nattached\r\nFrom: anna@example.org\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n"
        '--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="invoice.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
    )
    parsed = parse_message(message)
    assert parsed.subject == "Invoice attached" and parsed.from_addr == "anna@example.org"
    [invoice] = parsed.attachments
    assert (invoice.filename, invoice.payload) == ("invoice.pdf", b"%PDF-1.4\n")
    assert parsed.text_body.strip() == "See the file."
