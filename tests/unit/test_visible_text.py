"""Stored mail text printed by the CLI (issue 16): control and bidi characters are shown, never acted on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mailbridge.reports.render import json_visible, visible_text, visible_values
from tests.unit.test_linear_time import MB, timed


def test_escape_sequences_are_shown_as_control_pictures():
    assert visible_text("\x1b]0;pwned\x07Order") == "␛]0;pwned␇Order"
    assert visible_text("\x1b[2J\x1b[H") == "␛[2J␛[H"
    assert visible_text("a\x00b\x7fc") == "a␀b␡c"


def test_one_line_text_shows_its_line_breaks_and_tabs():
    assert visible_text("Order\r\nBcc: x\tY") == "Order␍␊Bcc: x␉Y"


def test_a_body_keeps_its_lines_and_tabs():
    assert visible_text("Hello\r\n\tthere\n\x1b[31mred\rover", multiline=True) == "Hello\n\tthere\n␛[31mred␍over"


def test_c1_controls_and_bidi_overrides_are_named():
    assert visible_text("a\x9b2Jb") == "a<U+009B>2Jb"
    assert visible_text("invoice\u202efdp.exe") == "invoice<U+202E>fdp.exe"
    assert visible_text("\u2066x\u2069\u200f") == "<U+2066>x<U+2069><U+200F>"


def test_ordinary_text_is_unchanged():
    text = "Grüße, Πέτρος — 注文 #1234 (Zoë)"
    assert visible_text(text) == text and visible_text(text, multiline=True) == text
    assert visible_text(None) == "" and visible_text("") == ""


def test_values_keep_their_shape_and_only_bodies_keep_lines():
    at = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    data = {
        "subject": "a\nb",
        "count": 3,
        "at": at,
        "messages": [{"text": "x\ny\x1b", "stripped_text": None, "from": "e\x1bvil"}],
        "tags": ("t\x07",),
    }
    assert visible_values(data) == {
        "subject": "a␊b",
        "count": 3,
        "at": at,
        "messages": [{"text": "x\ny␛", "stripped_text": None, "from": "e␛vil"}],
        "tags": ["t␇"],
    }


def test_json_escapes_what_it_would_leave_raw_and_reads_back_the_same():
    value = {"subject": "\x1b[2J \x9b \u202e ok"}
    text = json_visible(json.dumps(value, ensure_ascii=False))
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text
    assert json.loads(text) == value


def test_a_megabyte_of_controls_is_shown_in_bounded_time():
    assert timed(1, visible_text, "\x1b" * MB) == "␛" * MB
    assert timed(1, lambda text: visible_text(text, multiline=True), "\r\n" * MB) == "\n" * MB
