"""Helpers for parse: charsets, RFC 2047 words, MIME header checks, HTML to text, file names.

Input: bytes and header strings taken from a MIME tree; output: str. Only `inbound.parse`
calls this module. Nothing here raises on bad input: it falls back and says so in `defects`.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import mimetypes
import re
import unicodedata
import weakref
from email.message import Message
from html.parser import HTMLParser

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

from mailbridge.decisions.inbound.charsets import NO_CHARSET, codec_for, detect_charset, detect_text

# Parts looked at for the charset that raw 8-bit header bytes are most likely in, and the answer per message.
_CHARSET_PARTS = 20
_TEXT_CHARSETS: weakref.WeakKeyDictionary[Message, str | None] = weakref.WeakKeyDictionary()
# The encoded text may hold spaces ("=?us-ascii?Q?ABC / 123?=", "=?UTF-8?Q? Personal=C3=A4nderung?="): mailers
# write them, and every reader shows them. It stops at the first "?", so the pattern runs in linear time.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\r\n]*)\?=")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_UNSAFE_NAME_CHARS = re.compile(r'[<>:"|?*\\/]')
_RESERVED_NAMES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_MAX_NAME = 150
# A type token must lead; "text" alone is repaired to text/plain, an empty type is not.
_CONTENT_TYPE = re.compile(r"\s*[\w.+-]+")
_BARE_BOUNDARY = re.compile(r"boundary\s*=\s*([^\"\s;][^\s;]*)", re.IGNORECASE)
# A raw 8-bit byte of a header, as the standard library's parser hands it on (surrogateescape).
_RAW_BYTE = re.compile("[\udc80-\udcff]")
_TSPECIALS = set('()<>@,;:\\"/[]?=')
# Headers that RFC 5322 §3.6 and RFC 2045 allow once: a second copy makes the message ambiguous.
_SINGLETONS = ("from", "content-type", "content-transfer-encoding")
# A private table: the system's mime.types would make fallback names differ between hosts.
_MIME_TYPES = mimetypes.MimeTypes()
_EXTENSIONS = {
    "message/rfc822": ".eml",
    "text/plain": ".txt",
    "application/ms-tnef": ".dat",
    "image/jpeg": ".jpg",
    "text/rfc822-headers": ".txt",
    "message/global": ".eml",
}


def decode_bytes(
    data: bytes, charset: str | None, defects: list[str] | None = None, declared: str | None = None
) -> str:
    """Decode text bytes with the declared charset, then UTF-8, then a detected charset, then windows-1252.

    `declared`: a charset the message declares elsewhere (its body's, for raw 8-bit header bytes), preferred to the
    detector's guess.
    """
    codec = codec_for(charset)
    if codec is None and charset and charset.strip().lower() not in NO_CHARSET and defects is not None:
        defects.append(f"unknown-charset:{charset.strip()[:40]}")
    if codec:
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError):
            if defects is not None:
                defects.append(f"charset-mismatch:{(charset or '').strip()[:40]}")
    try:
        return data.decode("utf-8")
    except UnicodeError:
        pass
    detected = detect_text(data, declared)
    if detected is not None:
        return detected
    try:
        return data.decode("cp1252")
    except UnicodeError:
        return data.decode("latin-1")


def text_charset(msg: Message) -> str | None:
    """Return the charset a message's text is in: the first one a text part declares, else the one detected in the
    first 8-bit text part; None when neither is known. Looked up once per message (for raw 8-bit headers only)."""
    if msg not in _TEXT_CHARSETS:
        _TEXT_CHARSETS[msg] = _find_text_charset(msg)
    return _TEXT_CHARSETS[msg]


def _find_text_charset(msg: Message) -> str | None:
    texts = [p for p in itertools.islice(msg.walk(), _CHARSET_PARTS) if p.get_content_maintype() == "text"]
    for part in texts:
        charset = part.get_content_charset()
        if charset and codec_for(charset):
            return charset
    for part in texts:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and not payload.isascii():
            try:
                payload.decode("utf-8")
            except UnicodeError:
                return detect_charset(payload)
            return "utf-8"
    return None


def decode_header_value(value: str, words: bool = True, declared: str | None = None) -> str:
    """Turn a raw header value into text: raw 8-bit bytes as UTF-8, the `declared` charset or a detected one, then
    RFC 2047."""
    if not value.isascii() and _RAW_BYTE.search(value):
        value = decode_bytes(value.encode("utf-8", "surrogateescape"), None, declared=declared)
    return decode_words(value) if words else value


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded-words; adjacent words in one charset are joined as bytes first.

    Linear time: the bytes of a run are collected in a list and joined once (adding to one bytes object
    would copy the run again for every word).
    """
    if "=?" not in text:
        return text
    out: list[str] = []
    run: list[bytes] = []  # the current run of adjacent encoded-words in one charset, as bytes
    run_charset = ""
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        charset = match.group(1).split("*", 1)[0]
        # RFC 2047 §6.2: white space between adjacent encoded-words is not displayed.
        adjacent = bool(run) and (not gap or gap.isspace())
        if not (adjacent and charset.lower() == run_charset.lower()):
            if run:
                out.append(decode_bytes(b"".join(run), run_charset))
            if not adjacent:
                out.append(gap)
            run_charset, run = charset, []
        run.append(_word_bytes(match.group(2), match.group(3)))
        pos = match.end()
    if run:
        out.append(decode_bytes(b"".join(run), run_charset))
    out.append(text[pos:])
    return "".join(out)


def _word_bytes(encoding: str, encoded: str) -> bytes:
    raw = encoded.encode("ascii", "surrogateescape")
    if encoding in "bB":
        raw = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
        try:
            return base64.b64decode(raw + b"=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            return encoded.encode("utf-8", "surrogateescape")
    return _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw.replace(b"_", b" "))


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "head", "title", "template"}
    _BLOCK = {
        "p",
        "div",
        "br",
        "tr",
        "li",
        "ul",
        "ol",
        "table",
        "blockquote",
        "pre",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "header",
        "footer",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.chunks.append("\n")
        elif tag in ("td", "th"):
            self.chunks.append(" ")

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.chunks.append(data)


# The strict profile: the relaxed one pads every <span> with spaces, which splits words that mail clients (CJK ones
# above all) cut into spans with no space between them ("<span>加拿大</span><span>18</span>" must stay "加拿大18").
_INSCRIPTIS = ParserConfig(css=CSS_PROFILES["strict"].copy(), display_links=False, display_images=False)


def html_to_text(html: str) -> str:
    """Render HTML as plain text (inscriptis: block layout, lists and tables kept readable; entities decoded)."""
    if not html.strip():
        return ""
    try:
        text = get_text(html, _INSCRIPTIS)
    except Exception:  # noqa: BLE001 - lxml on hostile markup: fall back to the tags stripped by html.parser.
        extractor = _TextExtractor()
        try:
            extractor.feed(html)
            extractor.close()
        except Exception:  # noqa: BLE001 - html.parser on hostile markup too; keep what was read.
            pass
        text = "".join(extractor.chunks)
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def safe_filename(name: str | None, fallback: str) -> str:
    """Make an attachment name safe to show and to store: no paths, controls or reserved names."""
    if not name:
        return fallback
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    base = _UNSAFE_NAME_CHARS.sub("_", unicodedata.normalize("NFC", base))
    base = base.strip().lstrip(".").rstrip(". ").strip()
    if not base:
        return fallback
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    if stem.split(".")[0].strip().lower() in _RESERVED_NAMES:
        stem = "_" + stem
    ext = ("." + ext)[:20] if dot else ""
    return stem[: _MAX_NAME - len(ext)] + ext


def header_defects(part: Message) -> list[str]:
    """Find MIME header faults the compat32 parser silently repairs."""
    found = []
    counts: dict[str, int] = {}
    for key, value in part.raw_items():
        name = key.lower()
        counts[name] = counts.get(name, 0) + 1
        if name == "content-type":
            if not _CONTENT_TYPE.match(str(value)):
                found.append("invalid-content-type")
            # RFC 2046 §5.1.1: a boundary with tspecials must be quoted; strict parsers lose it.
            bare = _BARE_BOUNDARY.search(str(value))
            if bare and any(ch in _TSPECIALS for ch in bare.group(1)):
                found.append("unquoted-boundary")
    found.extend(f"duplicate-header:{n}" for n in _SINGLETONS if counts.get(n, 0) > 1)
    return found


def content_type_for(name: str) -> str:
    """Return the content type a file name suggests, application/octet-stream when none is known."""
    return _MIME_TYPES.guess_type(name, strict=False)[0] or "application/octet-stream"


def extension_for(content_type: str) -> str:
    """Return a file extension for a content type, ".bin" when none is known."""
    ctype = content_type.lower()
    return _EXTENSIONS.get(ctype) or _MIME_TYPES.guess_extension(ctype, strict=False) or ".bin"
