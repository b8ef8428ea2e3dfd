"""Issue 15: legacy charsets as real mail writes them: raw 8-bit headers, encoded-words with spaces, misspelled and
unknown labels, read with an alias table and a detector instead of as Latin-1."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mailbridge.decisions.inbound.charsets import codec_for
from mailbridge.decisions.inbound.mime import decode_bytes, decode_words
from mailbridge.decisions.inbound.parse import parse_message


def raw_mail(subject: bytes, body: bytes, content_type: bytes = b"text/plain; charset=us-ascii") -> bytes:
    return (
        b"From: Wang Wei <wang.wei@example.cn>\r\n"
        b"To: support@shop.example\r\n"
        b"Subject: " + subject + b"\r\n"
        b"Date: Tue, 03 Mar 2026 09:12:44 +0800\r\n"
        b"Message-ID: <20260303091244.4711@mail.example.cn>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: " + content_type + b"\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + body + b"\r\n"
    )


def test_raw_gb2312_subject_is_read_in_the_charset_the_body_declares():
    subject = "关于订单 18 号的退款问题"
    body = "您好，我的订单还没有收到退款，请帮忙查一下。谢谢！"
    parsed = parse_message(raw_mail(subject.encode("gb2312"), body.encode("gb2312"), b"text/plain; charset=gb2312"))
    assert parsed.subject == subject
    assert parsed.text_body.strip() == body


def test_raw_shift_jis_subject_without_any_label_is_detected():
    subject = "お問い合わせ：注文番号12345の配送について"
    body = "お世話になっております。注文番号12345の商品がまだ届いておりません。ご確認をお願いいたします。"
    raw = raw_mail(subject.encode("shift_jis"), body.encode("shift_jis"), b"text/plain")
    parsed = parse_message(raw)
    assert parsed.subject == subject
    assert parsed.text_body.strip() == body


def test_raw_8bit_display_name_follows_the_declared_charset():
    raw = raw_mail(b"Refund", "退款".encode("gb2312"), b"text/plain; charset=GB2312").replace(
        b"From: Wang Wei", "From: 王伟".encode("gb2312")
    )
    parsed = parse_message(raw)
    assert parsed.from_name == "王伟"
    assert parsed.from_addr == "wang.wei@example.cn"


def test_short_latin_text_without_a_label_stays_windows_1252():
    # The detector takes "naïve" or "Ärger" for Arabic or Thai: too few 8-bit bytes to believe a single-byte guess.
    assert decode_bytes("Hi, Ärger mit der Lieferung".encode("cp1252"), None) == "Hi, Ärger mit der Lieferung"
    assert decode_bytes("naïve".encode("cp1252"), "x-unknown") == "naïve"


@pytest.mark.parametrize(
    ("encoded", "text"),
    [
        ("=?us-ascii?Q?ABC / 123?=", "ABC / 123"),
        ("=?UTF-8?Q? Personal=C3=A4nderung?=", " Personaländerung"),
        ("Re: =?UTF-8?Q?Ihre Bestellung Nr. 4711?= ist da", "Re: Ihre Bestellung Nr. 4711 ist da"),
        ("=?iso-8859-1?q?Gr=FC=DFe?= =?utf-8?b?YXVz?=", "Grüßeaus"),
    ],
)
def test_encoded_words_with_spaces_are_decoded(encoded, text):
    assert decode_words(encoded) == text


def test_subject_with_spaces_inside_an_encoded_word_is_decoded():
    parsed = parse_message(raw_mail(b"=?UTF-8?Q?Antrag auf Personal=C3=A4nderung?=", b"Hallo"))
    assert parsed.subject == "Antrag auf Personaländerung"


@pytest.mark.parametrize(
    ("label", "text", "encoding"),
    [
        ("iso-gb2312", "加拿大移民咨询", "gb2312"),
        ("gb2312", "镕基与𠀀", "gb18030"),  # characters only GB18030 has, under the GB2312 label
        ("ks_c_5601-1987", "안녕하세요 주문 문의", "cp949"),
        ("utf8", "Grüße aus München", "utf-8"),
        ("iso-8859-8-i", "שלום, ההזמנה שלי", "iso-8859-8"),
        ("windows-874", "สวัสดีครับ", "cp874"),
        ("cp-850", "Ärger über Größe", "cp850"),
        ("win-1251", "Здравствуйте", "cp1251"),
    ],
)
def test_misspelled_labels_are_read_with_the_alias_table(label, text, encoding):
    defects: list[str] = []
    assert decode_bytes(text.encode(encoding), label, defects) == text
    assert defects == []


def test_unknown_label_falls_back_to_detection_not_latin_1():
    body = "您好，我想咨询一下加拿大移民的问题。我今年18岁，请问需要准备哪些材料？谢谢您的帮助！"
    raw = raw_mail(b"Question", body.encode("gb18030"), b"text/plain; charset=x-unknown")
    assert parse_message(raw).text_body.strip() == body


def test_a_label_that_is_no_charset_is_reported_and_the_text_still_read():
    defects: list[str] = []
    assert decode_bytes("Grüße".encode(), "x-klingon", defects) == "Grüße"
    assert defects == ["unknown-charset:x-klingon"]


def test_byte_codecs_are_no_charsets():
    assert codec_for("base64") is None
    assert codec_for("zlib") is None


def test_the_detector_is_not_loaded_for_utf_8_and_labelled_mail():
    script = (
        "import sys\n"
        "from mailbridge.ingest.prepare import prepare_mail\n"
        "prepare_mail(b'From: a@example.org\\r\\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\\r\\n"
        "Content-Type: text/plain; charset=iso-8859-1\\r\\n\\r\\nGr\\xfc\\xdfe\\r\\n')\n"
        "prepare_mail('From: b@example.org\\r\\nSubject: Grüße\\r\\n\\r\\nschön\\r\\n'.encode())\n"
        "print('charset_normalizer' in sys.modules)\n"
    )
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"
