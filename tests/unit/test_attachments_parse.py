"""Issue 15: attachments as real mail sends them: uuencode without `begin`, empty attached messages, the report of
a bounce, attached messages named after their subject, and Outlook's winmail.dat (TNEF) unpacked beside itself."""

from __future__ import annotations

import base64
import time

from mailbridge.decisions.inbound.parse import is_malformed, parse_message
from mailbridge.decisions.inbound.parts import MESSAGE_NAME_CHARS
from mailbridge.decisions.inbound.tnef import MAX_OBJECTS, unpack_tnef
from tests.tnef_stream import spinning_properties, winmail

HEAD = (
    "From: Jan Novak <jan.novak@example.cz>\r\n"
    "To: support@shop.example\r\n"
    "Subject: {subject}\r\n"
    "Date: Wed, 04 Mar 2026 10:20:00 +0100\r\n"
    "Message-ID: <{mid}@mail.example.cz>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b1"\r\n'
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "{text}\r\n"
)


def mixed(subject: str, text: str, *parts: str) -> bytes:
    body = HEAD.format(subject=subject, mid=abs(hash(subject)), text=text)
    body += "".join(f"--b1\r\n{part}\r\n" for part in parts)
    return (body + "--b1--\r\n").encode()


def names(raw: bytes) -> list[str]:
    return [a.filename for a in parse_message(raw).attachments]


def test_uuencode_without_begin_line_is_kept_as_text_not_as_a_file():
    part = (
        'Content-Type: application/octet-stream; name="order.txt"\r\n'
        "Content-Transfer-Encoding: x-uuencode\r\n"
        "\r\n"
        "Order 4711: 2 x blue mug, 1 x teapot.\r\n"
        "Please deliver after 5 pm.\r\n"
    )
    parsed = parse_message(mixed("My order", "See below.", part))
    assert parsed.attachments == ()
    assert "Order 4711: 2 x blue mug, 1 x teapot." in parsed.text_body
    assert "uuencode-without-begin" in parsed.defects
    assert not is_malformed(parsed)


def test_uuencode_with_begin_line_is_still_a_file():
    part = (
        'Content-Type: application/octet-stream; name="hello.txt"\r\n'
        "Content-Transfer-Encoding: x-uuencode\r\n"
        "\r\n"
        "begin 644 hello.txt\r\n"
        "%:&5L;&\\`\r\n"
        "`\r\n"
        "end\r\n"
    )
    parsed = parse_message(mixed("File", "Attached.", part))
    assert [(a.filename, a.payload) for a in parsed.attachments] == [("hello.txt", b"hello")]


def test_empty_attached_message_is_not_stored_as_a_two_byte_file():
    part = "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
    parsed = parse_message(mixed("Forward", "Forwarding the mail below.", part))
    assert parsed.attachments == ()
    assert "empty-attached-message" in parsed.defects


def test_attached_message_is_named_after_its_subject():
    inner = "From: shop@example.org\r\nSubject: Your invoice 2026/0042: paid?\r\n\r\nInvoice text\r\n"
    part = f"Content-Type: message/rfc822\r\n\r\n{inner}"
    attachment = parse_message(mixed("Fwd: invoice", "See the forward.", part)).attachments[0]
    assert attachment.filename == "Your invoice 2026_0042_ paid_.eml"
    assert attachment.content_type == "message/rfc822"
    assert b"Invoice text" in attachment.payload


def test_attached_message_with_a_long_subject_gets_a_bounded_name():
    inner = f"From: shop@example.org\r\nSubject: {'Very long subject ' * 20}\r\n\r\nx\r\n"
    name = names(mixed("Fwd", "See below.", f"Content-Type: message/rfc822\r\n\r\n{inner}"))[0]
    assert name.endswith(".eml")
    assert len(name) <= MESSAGE_NAME_CHARS + len(".eml")
    assert name.startswith("Very long subject Very long subject")


def test_attached_message_keeps_the_name_its_sender_gave():
    inner = "From: shop@example.org\r\nSubject: Anything\r\n\r\nx\r\n"
    part = f'Content-Type: message/rfc822; name="original.eml"\r\n\r\n{inner}'
    assert names(mixed("Fwd", "See below.", part)) == ["original.eml"]


def test_attached_message_without_subject_keeps_a_numbered_name():
    part = "Content-Type: message/rfc822\r\n\r\nFrom: shop@example.org\r\n\r\nx\r\n"
    assert names(mixed("Fwd", "See below.", part)) == ["attachment-1.eml"]


DSN = (
    b"From: Mail Delivery System <MAILER-DAEMON@mx.shop.example>\r\n"
    b"To: support@shop.example\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"Date: Wed, 04 Mar 2026 10:21:00 +0100\r\n"
    b"Message-ID: <dsn.1@mx.shop.example>\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n'
    b"\r\n"
    b"--r\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"I'm sorry to have to inform you that your message could not be delivered.\r\n"
    b"--r\r\n"
    b"Content-Type: message/delivery-status\r\n"
    b"\r\n"
    b"Reporting-MTA: dns; mx.shop.example\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; gone@example.org\r\n"
    b"Action: failed\r\n"
    b"Status: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
    b"--r\r\n"
    b"Content-Type: text/rfc822-headers\r\n"
    b"\r\n"
    b"Subject: Your ticket [#1234]\r\n"
    b"--r--\r\n"
)


def test_delivery_status_of_a_bounce_is_kept_as_a_text_file():
    parsed = parse_message(DSN)
    report = next(a for a in parsed.attachments if a.content_type == "message/delivery-status")
    assert report.filename == "delivery-status.txt"
    assert b"Status: 5.1.1" in report.payload
    assert b"Reporting-MTA: dns; mx.shop.example" in report.payload
    assert "Status: 5.1.1" not in parsed.text_body


def tnef_mail(tnef: bytes, content_type: str = "application/ms-tnef") -> bytes:
    encoded = base64.encodebytes(tnef).decode().replace("\n", "\r\n")
    part = (
        f'Content-Type: {content_type}; name="winmail.dat"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="winmail.dat"\r\n'
        f"\r\n{encoded}"
    )
    return mixed("Quote request", "Please see the attached files.", part)


def test_winmail_dat_is_kept_and_its_files_stored_beside_it():
    tnef = winmail([("Angebot 2026.pdf", b"%PDF-1.4 quote"), ("notes.txt", b"call back on Monday")])
    parsed = parse_message(tnef_mail(tnef))
    found = [(a.filename, a.content_type, a.payload, a.inside) for a in parsed.attachments]
    assert found == [
        ("winmail.dat", "application/ms-tnef", tnef, None),
        ("Angebot 2026.pdf", "application/pdf", b"%PDF-1.4 quote", "winmail.dat"),
        ("notes.txt", "text/plain", b"call back on Monday", "winmail.dat"),
    ]


def test_winmail_dat_sent_as_octet_stream_is_unpacked_too():
    tnef = winmail([("report.xlsx", b"PK\x03\x04 sheet")])
    found = names(tnef_mail(tnef, "application/octet-stream"))
    assert found == ["winmail.dat", "report.xlsx"]


def test_unreadable_winmail_dat_is_kept_whole_and_said_so():
    parsed = parse_message(tnef_mail(b"not a TNEF stream at all"))
    assert [a.filename for a in parsed.attachments] == ["winmail.dat"]
    assert "tnef-unreadable:signature" in parsed.defects
    assert not is_malformed(parsed)


def test_tnef_file_names_are_sanitised():
    parsed = parse_message(tnef_mail(winmail([("..\\..\\boot.ini", b"[boot loader]")])))
    assert [a.filename for a in parsed.attachments] == ["winmail.dat", "boot.ini"]


def test_tnef_claiming_billions_of_properties_is_read_at_once_without_them():
    tnef = winmail([("invoice.pdf", b"%PDF-1.4 invoice")], extra=spinning_properties())
    started = time.perf_counter()
    unpacked = unpack_tnef(tnef, 10)
    assert time.perf_counter() - started < 1
    assert [(f.name, f.payload) for f in unpacked.files] == [("invoice.pdf", b"%PDF-1.4 invoice")]
    assert unpacked.defects == ("tnef-dropped:object-0x9003",)


def test_tnef_with_thousands_of_entries_is_cut_at_the_limits():
    tnef = winmail([(f"scan-{i:05}.jpg", b"\xff\xd8 jpeg") for i in range(5000)])
    started = time.perf_counter()
    parsed = parse_message(tnef_mail(tnef))
    assert time.perf_counter() - started < 10
    unpacked = [a for a in parsed.attachments if a.inside == "winmail.dat"]
    assert len(unpacked) == 250
    assert unpacked[0].filename == "scan-00000.jpg"
    assert f"tnef-cut:objects>{MAX_OBJECTS}" in parsed.defects
    assert "tnef-files-cut:250" in parsed.defects


def test_tnef_whose_copying_outruns_the_budget_is_cut():
    tnef = winmail([(f"f{i}.txt", b"xx") for i in range(900)] + [("big.bin", bytes(20_000_000))])
    started = time.perf_counter()
    unpacked = unpack_tnef(tnef, 1000)
    assert time.perf_counter() - started < 5
    assert "tnef-cut:size" in unpacked.defects
    # The file the cut fell in is left out, not stored empty or truncated.
    assert [f.name for f in unpacked.files] == [f"f{i}.txt" for i in range(900)]
