"""Issue 15: text from HTML keeps runs of text with no markup-free space between them together (CJK mail cuts its
words into spans), and still lays out blocks, lists and tables."""

from __future__ import annotations

from mailbridge.decisions.inbound.mime import html_to_text
from mailbridge.decisions.inbound.parse import parse_message


def test_cjk_text_cut_into_spans_stays_together():
    html = (
        '<div><span style="font-size:14px">①</span><span>加拿大</span><span>移民</span>'
        "<span>要求</span><b>18</b><span>岁以上</span></div>"
    )
    assert html_to_text(html) == "①加拿大移民要求18岁以上"


def test_numbers_in_spans_get_no_spaces_around_them():
    assert html_to_text("<p>Bestellung Nr.<span>4711</span>vom<span>3.</span>März</p>") == (
        "Bestellung Nr.4711vom3.März"
    )


def test_spaces_the_html_has_are_kept():
    assert html_to_text("<p><span>Hello</span> <span>world</span></p>") == "Hello world"
    assert html_to_text("<p><span>Hello</span>\n<span>world</span></p>") == "Hello world"


def test_blocks_lists_and_tables_are_still_laid_out():
    html = "<p>Hallo</p><ul><li>eins</li><li>zwei</li></ul><table><tr><td>a</td><td>b</td></tr></table><div>Ende</div>"
    text = html_to_text(html)
    assert text.splitlines()[0] == "Hallo"
    assert "* eins\n* zwei" in text
    assert "a b" in text
    assert text.endswith("Ende")


def test_html_only_japanese_mail_reads_as_one_sentence():
    html = (
        "<html><body><p><span>ご注文</span><span>番号</span><span>12345</span><span>について</span></p></body></html>"
    )
    raw = (
        "From: tanaka@example.jp\r\nSubject: =?UTF-8?B?5rOo5paH?=\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n"
    ).encode()
    assert parse_message(raw).text_body == "ご注文番号12345について"
