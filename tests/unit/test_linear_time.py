"""Patterns and functions that read mail text run in linear time: a 1 MB hostile input finishes in bounded time.

Each input is built to make a backtracking pattern try a long run of spaces (or markers) once per position, which
takes minutes to hours at 1 MB when the work is quadratic (25 KB took 3 to over 100 s before the fixes). The bounds
are about twenty times the time measured on the shared test machine (at least 1 s), so a slow machine still passes
and quadratic work still fails.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from mailbridge.base.config.rules import DEFAULT_ORDER_NUMBER_REGEX
from mailbridge.decisions.agent_commands import text_module_names, unwrap_requester_forward
from mailbridge.decisions.inbound.classify import has_auto_reply_subject
from mailbridge.decisions.inbound.header_repair import repair_header_block
from mailbridge.decisions.inbound.mime import decode_words
from mailbridge.decisions.inbound.parse import _ROOT_DOT, _fold, _simple_address, parse_message
from mailbridge.decisions.inbound.reply_text import STRIP_HEAD_CHARS, _without_quote_blocks, strip_reply
from mailbridge.decisions.matching.order_numbers import extract_order_number
from mailbridge.decisions.matching.ticket_match import normalise_subject
from mailbridge.decisions.matching.ticket_numbers import subject_number_pattern
from mailbridge.ingest.prepare import prepare_mail

MB = 1_000_000
SPACES = " " * MB


def timed(bound: float, call: Callable[..., Any], *args: Any) -> Any:
    """Run call(*args); fail when it takes longer than `bound` seconds; return its result."""
    start = time.perf_counter()
    result = call(*args)
    elapsed = time.perf_counter() - start
    assert elapsed < bound, f"{getattr(call, '__name__', call)} took {elapsed:.2f} s (bound {bound} s)"
    return result


def test_header_unfolding():
    assert timed(1, _fold, "a" + SPACES + "b") == "a" + SPACES + "b"
    assert timed(1, _fold, "a" + SPACES + "\r\n" + SPACES + "b") == "a b"


def test_simple_address_pattern():
    assert timed(1, _simple_address, "a" + SPACES) is None
    assert timed(1, _simple_address, "a" + SPACES + "<a@example.org") is None
    assert timed(1, _simple_address, "Ann" + SPACES + "<a@example.org>") == ("Ann", "a@example.org")


def test_encoded_words():
    assert timed(1, decode_words, "=?utf-8?q?a?=" + SPACES + "=?utf-8?q?b?=") == "ab"
    many = "=?utf-8?q?a?= " * (MB // 14)
    assert timed(4, decode_words, many) == "a" * (MB // 14) + " "


def test_encoded_words_with_spaces_inside():
    # The encoded text may hold spaces (issue 15): an opening never closed, and many openings, scan once.
    assert timed(1, decode_words, "=?utf-8?q?a" + SPACES + "b") == "=?utf-8?q?a" + SPACES + "b"
    assert timed(1, decode_words, "=?utf-8?q?a" + SPACES + "b?=") == "a" + SPACES + "b"
    opened = "=?x?q? " * (MB // 7)
    assert timed(4, decode_words, opened) == opened


def test_reply_prefixes():
    assert timed(1, normalise_subject, "Re" + SPACES + "x") == "re x"
    assert timed(1, normalise_subject, "Re:" + SPACES) == ""
    assert timed(4, normalise_subject, "Re: [list] " * (MB // 11) + "Hello") == "hello"


def test_ticket_number_in_a_subject_of_spaces():
    pattern = subject_number_pattern("{number} {subject}")
    assert timed(1, pattern.findall, SPACES + "x") == []


def test_text_module_line():
    assert timed(1, text_module_names, "#text a" + SPACES + "b") == ("a" + SPACES + "b",)


def test_forwarded_header_line():
    assert timed(8, unwrap_requester_forward, "#requester\n" + SPACES + "x") is None


def test_default_order_number_pattern():
    pattern = re.compile(DEFAULT_ORDER_NUMBER_REGEX)
    assert timed(6, extract_order_number, "order" + SPACES + "x", "", pattern) is None
    assert timed(1, extract_order_number, "Order no." + " " * 5 + ": 12345", "", pattern) == "12345"


def test_quote_blocks_of_html():
    assert timed(1, _without_quote_blocks, "<blockquote>" * (MB // 12)) == "<blockquote>" * (MB // 12)
    assert timed(1, _without_quote_blocks, "a<BLOCKQUOTE x>b</blockquote>c<blockquote>") == "ac<blockquote>"


def test_quote_stripping_of_10_mb_keeps_all_text():
    text = "".join(f"line {n} of a long text\n" for n in range(10 * MB // 25))
    assert timed(10, strip_reply, text) == text.strip()


def test_quote_stripping_cuts_the_quote_of_the_head_and_keeps_the_rest():
    reply = "Thanks, it arrived.\n\nOn Mon, 23 Nov 2026 at 10:00, Shop support wrote:\n> Did it arrive?\n"
    rest = "".join(f"line {n}\n" for n in range(MB // 8))
    stripped = timed(10, strip_reply, reply + rest)
    assert stripped.startswith("Thanks, it arrived.\n") and "Did it arrive?" not in stripped
    assert stripped.endswith(rest[STRIP_HEAD_CHARS:].strip())


def test_quote_stripping_of_a_run_of_markers():
    markers = ">" * (2 * MB)
    stripped = timed(10, strip_reply, "Hello\n" + markers)
    assert stripped.startswith("Hello") and stripped.endswith(markers[STRIP_HEAD_CHARS:])


def test_quote_stripping_of_heads_the_library_reads_in_quadratic_time():
    # Blank lines, white space inside a line, and a long line that starts like "On ... wrote:".
    for text in (
        "Hi\n" + "\n" * MB,
        "Hi\n" + " \t\n" * (MB // 3),
        "Hi\na" + SPACES + "b",
        "Hi\nOn " + "x " * (MB // 2),
    ):
        assert timed(10, strip_reply, text).startswith("Hi")


def test_long_lines_are_read_whole():
    paragraph = "word " * 1000 + "end"
    assert strip_reply(f"Hi,\n{paragraph}\n\nOn Mon, Shop support wrote:\n> Did it arrive?\n") == f"Hi,\n{paragraph}"


def spaced(first: str, last: str, size: int) -> str:
    """A header value: two encoded words with `size` bytes of encoded words of spaces between, lines under 998."""
    line = " ".join(["=?utf-8?q?" + "_" * 60 + "?="] * 12)
    return "\r\n ".join([f"=?utf-8?q?{first}?=", *[line] * (size // len(line)), f"=?utf-8?q?{last}?="])


def test_long_address_header():
    words = "\r\n ".join(["a b c d e f " * 70] * (MB // 840))
    parsed = timed(10, parse_message, f"From: a@example.org\r\nTo: {words}\r\n\r\nhi\r\n".encode())
    assert parsed.from_addr == "a@example.org" and parsed.to_addrs == ()


def test_hostile_message_parses_in_bounded_time():
    raw = (
        f"From: {spaced('Ann', 'Smith', MB // 4)} <ann@example.org>\r\n"
        f"To: {spaced('Shop', 'support', MB // 4)} <support@shop.example>\r\n"
        f"Subject: {spaced('Re:', 'Order_late', MB // 4)}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n" + "\r\n".join([">" * 990] * (MB // 992)) + "\r\n"
    ).encode()
    assert len(raw) > 1.5 * MB
    parsed = timed(15, parse_message, raw)
    assert parsed.from_addr == "ann@example.org" and parsed.to_addrs == ("support@shop.example",)
    assert parsed.from_name.startswith("Ann ") and parsed.from_name.endswith(" Smith")
    assert parsed.subject.startswith("Re: ") and parsed.subject.endswith(" Order late")
    assert len(parsed.subject) > MB // 5
    prepared = timed(15, prepare_mail, raw)
    assert prepared.stripped_text is not None and normalise_subject(prepared.subject) == "order late"


def test_root_dot_of_a_domain():
    assert timed(1, _ROOT_DOT.sub, r"\1", "@a" + ".a" * (MB // 2) + "x y") == "@a" + ".a" * (MB // 2) + "x y"
    assert timed(1, _ROOT_DOT.sub, r"\1", "@a.b." * (MB // 5)) == "@a.b." * (MB // 5 - 1) + "@a.b"
    assert timed(1, _ROOT_DOT.sub, r"\1", "@a.b." + SPACES + "x") == "@a.b." + SPACES + "x"


def test_header_repair_of_hostile_header_blocks():
    # A line of field characters without a colon, a megabyte of stray lines, and stray lines between headers.
    assert timed(1, repair_header_block, b"!" * MB + b"\r\n") is None
    assert timed(1, repair_header_block, b"Subject: x\r\n" + b"a\r\n" * (MB // 3)) is None
    stray = b"Subject: x\r\n" + b"a\r\nX-A: 1\r\n" * (MB // 10) + b"\r\nbody\r\n"
    repaired = timed(2, repair_header_block, stray)
    assert repaired is not None and len(repaired.raw) > len(stray)
    parsed = timed(15, parse_message, b"stray\r\n" + stray)
    assert parsed.subject.startswith("x a") and any(d.startswith("header-repaired") for d in parsed.defects)


def test_auto_reply_subjects():
    assert timed(2, has_auto_reply_subject, "Re: " * (MB // 4) + "Automatic reply: x") is True
    assert timed(1, has_auto_reply_subject, "Automatic reply" + SPACES + ":") is True
    assert timed(2, has_auto_reply_subject, SPACES + "is out of the office") is True
    assert timed(1, has_auto_reply_subject, "Out of office " + "x " * (MB // 2)) is False


def test_quote_headers_footers_and_signatures_of_hostile_lines():
    # Each line looks like the start of one of the added quote headers, footers or signatures and never completes it;
    # only the head (STRIP_HEAD_CHARS) is stripped, so a quarter megabyte tries each pattern as hard as a larger text.
    lines = (
        # Short lines: the library's own "On ... wrote:" takes time with the square of a line (see above).
        "On 10:00 " + "x " * 20,
        "1 10:00 " + "wrote " * 80,
        "10:00 " + "schrieb " * 60,
        "2024 10:00 " + "@" * 489,
        "2024 10:00 " + "a@b" * 163,
        "From: x\nTo: y",
        "_" * 100 + "\n",
        "x mailing list",
        "Message du 10:00",
        "-" * 499,
        "Sent from my iPhone",
        "> " + "x" * 70 + "\ny",
    )
    for line in lines:
        text = "Hi\n" + (line + "\n") * (MB // 4 // (len(line) + 1))
        stripped = timed(10, strip_reply, text)
        assert stripped.startswith("Hi") and len(stripped) > MB // 8, line[:20]


def test_message_id_patterns():
    # Issue 16: ids are read and copied up to a bound; a megabyte of id characters is scanned once.
    from mailbridge.decisions.inbound.parse import _first_id
    from mailbridge.decisions.outgoing.compose import MSG_ID

    assert timed(1, _first_id, "<" + "a" * MB + "@x>") is None
    assert timed(1, _first_id, "<a" * (MB // 2)) is None
    assert timed(1, MSG_ID.match, "<" + "a" * MB + "@x>") is None
    assert timed(1, MSG_ID.match, "<" + "@" * MB) is None


def test_display_name_and_visible_text():
    from mailbridge.decisions.inbound.names import safe_display_name
    from mailbridge.reports.render import visible_text

    assert timed(1, safe_display_name, "ab." * MB) == ""
    assert timed(1, safe_display_name, "\u0301" * MB) == "\u0301" * 4
    assert timed(1, visible_text, "\x1b\u202e" * MB) == "␛<U+202E>" * MB


def test_sub_addresses_of_many_tags():
    from mailbridge.decisions.own_addresses import contact_of, is_ours, sub_address_tag

    own = frozenset({"support@shop.example"})
    hostile = "support" + "+a" * (MB // 2) + "@shop.example"  # each base it strips to was built anew: quadratic
    assert timed(1, is_ours, hostile, own) is True
    assert timed(1, is_ours, "x" + hostile, own) is False
    assert timed(1, contact_of, hostile, {"support@shop.example": 1}) == 1
    assert timed(1, sub_address_tag, hostile, own) == "a"
