"""Unit tests for mailbridge.parse: small messages built inline, one behaviour each."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime

import pytest

from mailbridge.decisions.inbound.parse import html_to_text, is_malformed, parse_message, safe_filename


def mail(headers: str, body: str = "hello\r\n") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode("utf-8")


def multipart(*parts: str, headers: str = "From: a@example.com") -> bytes:
    body = "".join(f"--XX\n{p.strip()}\n" for p in parts) + "--XX--\n"
    return mail(headers + '\nContent-Type: multipart/mixed; boundary="XX"', body.replace("\n", "\r\n"))


def test_missing_from_is_a_defect_not_an_error():
    parsed = parse_message(mail("Subject: hi"))
    assert parsed.from_addr is None
    assert "missing-from" in parsed.defects
    assert is_malformed(parsed)


def test_well_formed_message_has_no_defects():
    parsed = parse_message(mail("From: Ann <ann@example.com>\nSubject: hi\nDate: Tue, 1 Jul 2025 10:00:00 +0200"))
    assert parsed.defects == ()
    assert not is_malformed(parsed)


def test_from_address_is_lower_cased_and_name_kept():
    parsed = parse_message(mail("From: Ann Smith <Ann.Smith@Example.COM>"))
    assert (parsed.from_addr, parsed.from_name) == ("ann.smith@example.com", "Ann Smith")


def test_legacy_comment_form_gives_the_display_name():
    parsed = parse_message(mail("From: bob@example.com (Bob Jones)"))
    assert (parsed.from_addr, parsed.from_name) == ("bob@example.com", "Bob Jones")


def test_null_sender_keeps_its_name():
    parsed = parse_message(mail("From: MAILER DAEMON <>"))
    assert (parsed.from_addr, parsed.from_name) == (None, "MAILER DAEMON")


def test_recipients_are_split_and_lower_cased():
    parsed = parse_message(mail("From: a@x.org\nTo: B <B@x.org>, c@X.org\nCc: d@x.org\nReply-To: E@x.org"))
    assert parsed.to_addrs == ("b@x.org", "c@x.org")
    assert (parsed.cc_addrs, parsed.reply_to) == (("d@x.org",), ("e@x.org",))


def test_rfc2047_subject_is_decoded():
    parsed = parse_message(mail("From: a@x.org\nSubject: =?UTF-8?B?R3LDvMOfZQ==?= =?ISO-8859-1?Q?_aus_K=F6ln?="))
    assert parsed.subject == "Grüße aus Köln"


def test_encoded_words_split_inside_a_character_are_joined():
    # "é" is C3 A9 in UTF-8; some senders break the word between the two bytes.
    parsed = parse_message(mail("From: a@x.org\nSubject: =?UTF-8?Q?caf=C3?= =?UTF-8?Q?=A9?="))
    assert parsed.subject == "café"


def test_crlf_in_subject_is_folded():
    parsed = parse_message(mail("From: a@x.org\nSubject: =?UTF-8?Q?first_line=0D=0Asecond?=\n line"))
    assert parsed.subject == "first line second line"


def test_latin1_raw_header_decodes():
    raw = b"From: J\xf6rg M\xfcller <j@example.de>\r\nSubject: Gr\xfc\xdfe\r\n\r\nhi\r\n"
    parsed = parse_message(raw)
    assert (parsed.from_name, parsed.subject) == ("Jörg Müller", "Grüße")


def test_utf8_raw_header_decodes():
    parsed = parse_message("From: a@x.org\r\nSubject: naïve ☃\r\n\r\nhi\r\n".encode())
    assert parsed.subject == "naïve ☃"


def test_references_are_split_into_ids():
    parsed = parse_message(mail("From: a@x.org\nReferences: <a@x> <b@y>\n <c@z>\nIn-Reply-To: <c@z> (reply)"))
    assert parsed.references == ("<a@x>", "<b@y>", "<c@z>")
    assert parsed.in_reply_to == "<c@z>"


def test_message_id_without_brackets_is_normalised():
    assert parse_message(mail("From: a@x.org\nMessage-ID: abc@host")).message_id == "<abc@host>"


def test_date_is_aware_utc():
    parsed = parse_message(mail("From: a@x.org\nDate: Tue, 1 Jul 2025 10:00:00 +0200"))
    assert parsed.date == datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


def test_unparseable_date_is_none():
    assert parse_message(mail("From: a@x.org\nDate: sometime soon")).date is None


def test_headers_keep_first_value_by_lower_case_name():
    parsed = parse_message(mail("From: a@x.org\nAuto-Submitted: auto-replied\nX-Tag: one\nX-Tag: two"))
    assert parsed.headers["auto-submitted"] == "auto-replied"
    assert parsed.headers["x-tag"] == "one"


def test_legacy_charset_body_is_decoded():
    raw = mail("From: a@x.org\nContent-Type: text/plain; charset=koi8-r", "").replace(
        b"\r\n\r\n", b"\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4"
    )
    assert parse_message(raw).text_body == "Привет"


def test_iso_2022_jp_body_is_decoded():
    body = "こんにちは".encode("iso2022_jp")
    raw = mail("From: a@x.org\nContent-Type: text/plain; charset=iso-2022-jp", "") + body
    assert parse_message(raw).text_body == "こんにちは"


def test_unknown_charset_falls_back_to_utf8():
    raw = mail("From: a@x.org\nContent-Type: text/plain; charset=x-klingon", "") + "señor".encode()
    parsed = parse_message(raw)
    assert parsed.text_body == "señor"
    assert "unknown-charset:x-klingon" in parsed.defects


def test_mislabelled_latin1_body_is_not_replacement_characters():
    raw = mail("From: a@x.org\nContent-Type: text/plain; charset=utf-8", "") + b"caf\xe9"
    assert parse_message(raw).text_body == "café"


def test_quoted_printable_body_is_decoded():
    raw = mail(
        "From: a@x.org\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable",
        "caf=C3=A9 =\r\nau lait",
    )
    assert parse_message(raw).text_body == "café au lait"


def test_html_only_message_gets_text_body():
    parsed = parse_message(
        mail(
            "From: a@x.org\nContent-Type: text/html",
            "<html><head><style>p{}</style></head><body><p>Hi&nbsp;there</p><p>Bye &amp; thanks</p></body></html>",
        )
    )
    assert parsed.text_body == "Hi there\n\nBye & thanks"
    assert parsed.html_body.startswith("<html>")


def test_alternative_prefers_the_text_part():
    raw = multipart("Content-Type: text/plain\n\nplain words", "Content-Type: text/html\n\n<p>html words</p>")
    parsed = parse_message(raw)
    assert parsed.text_body.strip() == "plain words"
    assert "html words" in parsed.html_body


def test_html_to_text_drops_scripts_and_decodes_entities():
    assert html_to_text("<script>x()</script><div>a &lt; b</div>") == "a < b"


def test_attachment_payload_is_decoded():
    data = os.urandom(64)
    raw = multipart(
        "Content-Type: text/plain\n\nsee file",
        f'Content-Type: application/pdf; name="r.pdf"\nContent-Transfer-Encoding: base64\n\n{base64.b64encode(data).decode()}',
    )
    (attachment,) = parse_message(raw).attachments
    assert (attachment.filename, attachment.content_type, attachment.payload) == ("r.pdf", "application/pdf", data)


def test_attachment_path_is_stripped_from_name():
    raw = multipart(
        'Content-Type: text/plain\nContent-Disposition: attachment; filename="..\\\\..\\\\evil/../x.txt"\n\nhi'
    )
    assert parse_message(raw).attachments[0].filename == "x.txt"


def test_unnamed_attachment_gets_fallback_name():
    raw = multipart(
        "Content-Type: text/plain\n\nbody", "Content-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo="
    )
    assert parse_message(raw).attachments[0].filename == "attachment-1.png"


def test_rfc2231_filename_is_decoded():
    raw = multipart(
        "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=UTF-8''na%C3%AFve%20plan.txt\n\nx"
    )
    assert parse_message(raw).attachments[0].filename == "naïve plan.txt"


def test_rfc2047_filename_is_decoded():
    raw = multipart('Content-Type: application/octet-stream; name="=?UTF-8?B?w6l0w6kucGRm?="\n\nx')
    assert parse_message(raw).attachments[0].filename == "été.pdf"


def test_attached_message_is_one_eml_attachment_and_not_body():
    raw = multipart(
        "Content-Type: text/plain\n\nfyi", "Content-Type: message/rfc822\n\nFrom: b@x.org\nSubject: inner\n\ninner body"
    )
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments] == ["inner.eml"]
    assert b"inner body" in parsed.attachments[0].payload
    assert "inner body" not in parsed.text_body


def test_winmail_dat_is_kept_as_attachment():
    raw = multipart(
        'Content-Type: application/ms-tnef; name="winmail.dat"\nContent-Transfer-Encoding: base64\n\neJ8+IgAA'
    )
    (attachment,) = parse_message(raw).attachments
    assert (attachment.filename, attachment.content_type) == ("winmail.dat", "application/ms-tnef")


def test_missing_boundary_is_malformed():
    raw = mail('From: a@x.org\nContent-Type: multipart/mixed; boundary="nowhere"', "just text\r\n")
    parsed = parse_message(raw)
    assert "StartBoundaryNotFoundDefect" in parsed.defects
    assert is_malformed(parsed)


def test_unknown_transfer_encoding_is_malformed():
    parsed = parse_message(mail("From: a@x.org\nContent-Transfer-Encoding: 8bits"))
    assert is_malformed(parsed)


def test_broken_base64_is_a_defect_not_an_error():
    raw = multipart("Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n!!!not*base64")
    parsed = parse_message(raw)
    assert len(parsed.attachments) == 1
    assert is_malformed(parsed)


def test_bare_lf_message_parses():
    parsed = parse_message(b"From: a@x.org\nSubject: lf only\n\nbody\n")
    assert (parsed.subject, parsed.text_body, parsed.defects) == ("lf only", "body\n", ())


def test_garbage_bytes_parse_without_raising():
    for raw in (b"", os.urandom(4096), b"\x00" * 100, b"\r\n\r\n", b":\r\n", b"=?=?==??"):
        assert parse_message(raw).attachments == ()


def test_huge_header_parses_without_raising():
    parsed = parse_message(b"X-Big: " + b"a" * 1_000_000 + b"\r\nFrom: a@x.org\r\n\r\nbody")
    assert parsed.from_addr == "a@x.org"


def test_deep_nesting_parses_without_raising():
    layers = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(2000))
    parsed = parse_message(b"From: a@x.org\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n" + layers)
    assert parsed.from_addr == "a@x.org"
    assert is_malformed(parsed)


def test_safe_filename_strips_controls_and_leading_dots():
    assert safe_filename("..\x00.hid\u202eden\r\n.txt", "f.bin") == "hidden.txt"


def test_safe_filename_renames_windows_reserved_names():
    assert safe_filename("CON.txt", "f.bin") == "_CON.txt"


def test_safe_filename_limits_length_and_keeps_extension():
    name = safe_filename("a" * 300 + ".pdf", "f.bin")
    assert (len(name), name[-4:]) == (150, ".pdf")


def test_safe_filename_uses_fallback_when_nothing_is_left():
    assert safe_filename("../..", "attachment-3.bin") == "attachment-3.bin"


@pytest.mark.parametrize(
    "header, expected",
    [
        ("anna@example.org", ("", "anna@example.org")),
        ("Anna  Rossi <Anna@Example.org>", ("Anna Rossi", "anna@example.org")),
        ('"Rossi, Anna" <anna@example.org>', ("Rossi, Anna", "anna@example.org")),
        ("=?utf-8?b?zpPOuc+Oz4HOs86/z4I=?= <g@example.gr>", ("Γιώργος", "g@example.gr")),
        ("Eve (work) <eve@example.org>", ("Eve", "eve@example.org")),
        ("anna@example.org (Anna Rossi)", ("Anna Rossi", "anna@example.org")),
        ("MAILER-DAEMON <>", ("MAILER-DAEMON", "")),
    ],
)
def test_sender_forms_parse_the_same_on_the_fast_and_the_full_path(header, expected):
    raw = f"From: {header}\r\nTo: support@shop.example\r\nSubject: x\r\n\r\nbody\r\n".encode()
    parsed = parse_message(raw)
    assert (parsed.from_name, parsed.from_addr or "") == expected
