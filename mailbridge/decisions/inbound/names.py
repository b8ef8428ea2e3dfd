"""Decision: a sender's display name -> the name we may keep and show in a greeting, and when a kept name changes. Pure.

A display name is whatever the sender typed, or whatever someone forging their address typed: it is shown in
receipts, in the To of our mail and in the agents' notifications. `safe_display_name` bounds and cleans it and
drops it whole when it carries a link; `next_display_name` keeps the first safe name and lets only mail our own
receiving server authenticated (`[support] authserv_id`) change it. Called by `store.tickets.ensure_customer`
when a name is stored, and by the mail that shows one (`decisions.outgoing.drafts`, `service`), for rows stored before.
"""

from __future__ import annotations

import re
import unicodedata
from email import policy
from email.parser import BytesHeaderParser
from functools import lru_cache

from mailbridge.decisions.agent_reply import AuthOutcome, authentication_outcome
from mailbridge.decisions.inbound.mime import decode_header_value

MAX_NAME_CHARS = 64
# Only this much of a raw name is read: nothing past it could be shown, and a hostile header may be megabytes.
_READ_CHARS = 4 * MAX_NAME_CHARS
# Combining marks kept on one character: real scripts use a few, "Zalgo" text stacks hundreds.
_MAX_MARKS = 4
# Zero-width joiner and non-joiner spell words in Persian, Indic scripts and emoji; other format characters
# (bidi overrides and isolates, zero-width spaces, BOM, soft hyphen) only hide or reorder what is shown.
_KEPT_FORMAT = frozenset("\u200c\u200d")
# The ASCII controls (category Cc), each read as a space.
_ASCII_CONTROLS = {code: " " for code in (*range(0x20), 0x7F)}
# Linear time: fixed-width pieces, no nested repetition. Checked on the NFKC case-folded text, so full-width
# letters and dots ("ｅｖｉｌ．ｃｏｍ", "＠") read as their ASCII forms; "。" is the ideographic full stop that IDNA reads as a dot.
_LINK_LIKE = re.compile(
    r"@|://|https?|www[.\u3002]"  # an address, a scheme, a host
    r"|[^\W_][.\u3002][^\W\d_]{2}"  # a domain: "shop.com", "evil.support", "пример.рф"
    r"|\d[.\u3002]\d{1,3}[.\u3002]\d"  # an IPv4 address
)


@lru_cache(maxsize=512)
def safe_display_name(raw: str | None) -> str:
    """Return the name fit for a greeting: one line, no control or bidi characters, at most MAX_NAME_CHARS.

    A name that looks like a link (an address, a URL, a domain, an IP address) gives "": the greeting then uses
    its neutral form. A name over the limit is cut after its last whole word.
    """
    text = _visible_characters((raw or "")[:_READ_CHARS])
    text = " ".join(text.split())
    if not text or _LINK_LIKE.search(unicodedata.normalize("NFKC", text).casefold()):
        return ""
    return _cut_at_word(text, MAX_NAME_CHARS)


def next_display_name(stored: str | None, offered: str | None, *, authenticated: bool) -> str:
    """Return the customer's name after a mail offering `offered`: the first safe name stays, unless this mail
    is authenticated; a stored name that is not safe (kept before this rule) is cleaned.
    """
    current = safe_display_name(stored)
    new = safe_display_name(offered)
    if new and (authenticated or not current):
        return new
    return current


def name_is_authenticated(raw: bytes, sender: str | None, authserv_id: str | None) -> bool:
    """Tell whether our receiving server vouched for the sender's domain (DMARC, or aligned DKIM or SPF, passed).

    Only the Authentication-Results headers carrying `authserv_id` count (RFC 8601 §5: anyone can add others);
    without a configured authserv_id there is no verdict to trust, so no mail is authenticated.
    """
    if authserv_id is None or not sender or "@" not in sender:
        return False
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    results = [
        decode_header_value(str(value), words=False)
        for key, value in headers.raw_items()
        if key.lower() == "authentication-results"
    ]
    return authentication_outcome(results, sender.rpartition("@")[2], authserv_id) is AuthOutcome.PASS


def _visible_characters(text: str) -> str:
    """Turn controls and line or paragraph separators into spaces, drop hiding format characters, cap mark runs."""
    if text.isascii():
        # ASCII holds no format characters, marks or separators, and NFC leaves it as it is: only controls change.
        return text.translate(_ASCII_CONTROLS)
    kept: list[str] = []
    marks = 0
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            kept.append(" ")
        elif category in ("Cs", "Co", "Cn") or (category == "Cf" and char not in _KEPT_FORMAT):
            continue
        elif category == "Mn":
            marks += 1
            if marks <= _MAX_MARKS:
                kept.append(char)
            continue
        else:
            kept.append(char)
        marks = 0
    return "".join(kept)


def _cut_at_word(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    cut = head.rpartition(" ")[0] if " " in head else ""
    return (cut or text[:limit]).rstrip(" ,;:-")
