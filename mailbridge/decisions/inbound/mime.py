"""Helpers for parse: charsets, RFC 2047 words, MIME header checks, HTML to text, file names.

Input: bytes and header strings taken from a MIME tree; output: str. Only `inbound.parse`
calls this module. Nothing here raises on bad input: it falls back and says so in `defects`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import mimetypes
import re
import unicodedata
from email.message import Message
from html.parser import HTMLParser

from inscriptis import get_text
from inscriptis.model.config import ParserConfig

# Supersets and the names mail clients really mean (WHATWG Encoding Standard, "labels"):
# ISO-8859-1 mail is nearly always windows-1252, GB2312 text is GB18030 text, and so on.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "big5": "big5hkscs",
    "iso-8859-8-i": "iso-8859-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-mac-roman": "mac_roman",
}
# Labels that say nothing useful about 8-bit bytes: UTF-8, then windows-1252 are tried.
_NO_CHARSET = {
    "",
    "us-ascii",
    "ascii",
    "ansi_x3.4-1968",
    "x-unknown",
    "unknown",
    "unknown-8bit",
    "x-user-defined",
    "default",
    "none",
}
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_UNSAFE_NAME_CHARS = re.compile(r'[<>:"|?*\\/]')
_RESERVED_NAMES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_MAX_NAME = 150
# A type token must lead; "text" alone is repaired to text/plain, an empty type is not.
_CONTENT_TYPE = re.compile(r"\s*[\w.+-]+")
_BARE_BOUNDARY = re.compile(r"boundary\s*=\s*([^\"\s;][^\s;]*)", re.IGNORECASE)
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


def _codec(charset: str | None) -> str | None:
    """Return a Python codec name for a MIME charset label, or None when unusable."""
    label = (charset or "").strip().strip("\"'").lower()
    if label in _NO_CHARSET:
        return None
    label = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    # Only text encodings: "base64" or "zlib" as a charset label must not run a byte codec.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_bytes(data: bytes, charset: str | None, defects: list[str] | None = None) -> str:
    """Decode text bytes with the declared charset, then UTF-8, then windows-1252, then latin-1."""
    codec = _codec(charset)
    if codec is None and charset and charset.strip().lower() not in _NO_CHARSET and defects is not None:
        defects.append(f"unknown-charset:{charset.strip()[:40]}")
    if codec:
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError):
            if defects is not None:
                defects.append(f"charset-mismatch:{(charset or '').strip()[:40]}")
    for fallback in ("utf-8", "cp1252"):
        try:
            return data.decode(fallback)
        except UnicodeError:
            continue
    return data.decode("latin-1")


def decode_header_value(value: str, words: bool = True) -> str:
    """Turn a raw header value into text: raw 8-bit bytes as UTF-8 or windows-1252, then RFC 2047."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        value = decode_bytes(value.encode("utf-8", "surrogateescape"), None)
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


_INSCRIPTIS = ParserConfig(display_links=False, display_images=False)


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


def extension_for(content_type: str) -> str:
    """Return a file extension for a content type, ".bin" when none is known."""
    ctype = content_type.lower()
    return _EXTENSIONS.get(ctype) or _MIME_TYPES.guess_extension(ctype, strict=False) or ".bin"
