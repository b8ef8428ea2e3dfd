"""Adapter: a reply's text -> only the new text, without quoted mail and signature. Pure.

Wraps mail-parser-reply (maintained, pure Python, many languages). Measured on the shared
corpus's reply-stripping cases (tests/test_reply_stripping.py): mail-parser-reply 35/54,
talon 40/54; talon was not chosen because its last release is from 2017 and it pulls in
scikit-learn, scipy and numpy. Swap the library here and nowhere else.
"""

from __future__ import annotations

import re
from functools import cache

from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

from mailbridge.decisions.inbound.mime import html_to_text as render_html
from mailbridge.decisions.inbound.parse import ParsedMessage

LANGUAGES = tuple(MAIL_LANGUAGES)
# The library's patterns take time with the length of the text, so only this head of a text is stripped, cut at a
# line end; the rest follows it as it is.
STRIP_HEAD_CHARS = 64 * 1024
# Some of its patterns take time with the square of a line ("On ... wrote:" on a long line) or of a run of white
# space (blank lines): the library sees lines of at most this many characters and at most BLANK_LINES blank lines
# in a row. A longer line is folded with _FOLD at both sides of each break, and joined again afterwards.
LIBRARY_LINE_CHARS = 500
BLANK_LINES = 10
_FOLD = "\u2063"  # INVISIBLE SEPARATOR: not white space, so the library's strip of each line leaves the fold alone
# The tags of quoted blocks, paired in `_without_quote_blocks`.
_QUOTE_TAG = re.compile(r"(?i)<blockquote\b|</blockquote>")
# RFC 3676 §4.3: "-- " alone on a line starts the signature (many clients drop the trailing space).
_SIGNATURE = re.compile(r"(?m)^--[ \t]?$")


def html_to_text(html: str) -> str:
    """Turn an HTML body into plain text for stripping, dropping quoted blocks."""
    return render_html(_without_quote_blocks(html))


def _without_quote_blocks(html: str) -> str:
    """Drop each `<blockquote` with all up to the next `</blockquote>`; an opening never closed stays.

    What the pattern `<blockquote\\b.*?</blockquote>` removes, found by pairing the tags in one pass: the pattern
    itself would scan the rest of the text from every opening that is never closed (quadratic).
    """
    kept: list[str] = []
    done = 0
    opened: int | None = None
    for tag in _QUOTE_TAG.finditer(html):
        if opened is None and not tag.group().startswith("</"):
            opened = tag.start()
        elif opened is not None and tag.group().startswith("</"):
            kept.append(html[done:opened])
            done, opened = tag.end(), None
    kept.append(html[done:])
    return "".join(kept)


@cache
def _compiled_patterns() -> dict:
    """Build the library's large per-language patterns once; it would otherwise rebuild them for every mail."""
    languages = EmailReplyParser(languages=list(LANGUAGES)).languages
    probe = EmailMessage(text="", languages=list(languages))
    return {
        "languages": languages,
        "_header_regex": probe.HEADER_REGEX,
        "_disclaimers_regex": probe.DISCLAIMERS_REGEX,
        "_signature_regex": probe.SIGNATURE_REGEX,
    }


def new_text(parsed: ParsedMessage) -> str:
    """The message's new text: cut when it was prepared (ingest.prepare), else cut now."""
    if parsed.stripped_text is not None:
        return parsed.stripped_text
    return strip_reply(parsed.text_body, parsed.html_body)


def strip_reply(text: str, html: str = "") -> str:
    """Return only the new text of a reply: no quoted earlier mail, no signature.

    Only the head of a very long text is stripped (STRIP_HEAD_CHARS); the rest is kept as it is.
    """
    source = text if text.strip() else html_to_text(html)
    if not source.strip():
        return ""
    head, rest = _split_head(source.replace("\r\n", "\n"))
    compiled = _compiled_patterns()
    patterns = {**compiled, "languages": list(compiled["languages"])}
    stripped = EmailMessage(text=_for_library(head), **patterns).read().latest_reply
    stripped = (stripped or "").replace(f"{_FOLD}\n{_FOLD}", "").replace(_FOLD, "")
    new = _SIGNATURE.split(stripped, maxsplit=1)[0].strip()
    return f"{new}\n{rest}".strip() if rest else new


def _for_library(head: str) -> str:
    """The head as the library can read it in linear time: lines stripped (as the library does), long ones folded,
    runs of blank lines cut to BLANK_LINES."""
    lines: list[str] = []
    blank = 0
    for line in (line.strip() for line in head.split("\n")):
        blank = 0 if line else blank + 1
        if blank > BLANK_LINES:
            continue
        pieces = [line[start : start + LIBRARY_LINE_CHARS] for start in range(0, len(line), LIBRARY_LINE_CHARS)]
        lines.append(f"{_FOLD}\n{_FOLD}".join(pieces))
    return "\n".join(lines)


def _split_head(text: str) -> tuple[str, str]:
    """Cut a text into the head that is stripped and the rest, at the last line end of the head's second half."""
    if len(text) <= STRIP_HEAD_CHARS:
        return text, ""
    cut = text.rfind("\n", STRIP_HEAD_CHARS // 2, STRIP_HEAD_CHARS) + 1 or STRIP_HEAD_CHARS
    return text[:cut], text[cut:]
