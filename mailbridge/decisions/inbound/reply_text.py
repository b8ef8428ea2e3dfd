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
_QUOTE_BLOCK = re.compile(r"(?is)<blockquote\b.*?</blockquote>")
# RFC 3676 §4.3: "-- " alone on a line starts the signature (many clients drop the trailing space).
_SIGNATURE = re.compile(r"(?m)^--[ \t]?$")


def html_to_text(html: str) -> str:
    """Turn an HTML body into plain text for stripping, dropping quoted blocks."""
    return render_html(_QUOTE_BLOCK.sub("", html))


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
    """Return only the new text of a reply: no quoted earlier mail, no signature."""
    source = text if text.strip() else html_to_text(html)
    if not source.strip():
        return ""
    compiled = _compiled_patterns()
    patterns = {**compiled, "languages": list(compiled["languages"])}
    stripped = EmailMessage(text=source.replace("\r\n", "\n"), **patterns).read().latest_reply
    return _SIGNATURE.split(stripped or "", maxsplit=1)[0].strip()
