"""Charset labels as mail really writes them -> Python codecs, and detection for bytes without a usable label.

Called by `inbound.mime` (body parts, RFC 2047 words, raw 8-bit headers). The detector (charset-normalizer) runs
only for 8-bit bytes that are not UTF-8 and have no usable label: never on the common path of ASCII or UTF-8 mail.
"""

from __future__ import annotations

import codecs

# Supersets and the names mail clients really mean (WHATWG Encoding Standard, "labels"):
# ISO-8859-1 mail is nearly always windows-1252, GB2312 text is GB18030 text, and so on.
_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "cn-gb": "gb18030",
    "chinese": "gb18030",
    "iso-ir-58": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601-1989": "cp949",
    "ks_c_5601": "cp949",
    "korean": "cp949",
    "euc-kr": "cp949",
    "windows-949": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "visual": "iso-8859-8",
    "logical": "iso-8859-8",
    "unicode-1-1-utf-7": "utf-7",
    "unicode": "utf-16",
    "ucs-2": "utf-16",
    "utf8": "utf-8",
    "x-mac-roman": "mac_roman",
    "x-mac-cyrillic": "mac_cyrillic",
    "x-mac-greek": "mac_greek",
    "x-mac-turkish": "mac_turkish",
}
# Labels that say nothing useful about 8-bit bytes: UTF-8, then detection, then windows-1252.
NO_CHARSET = frozenset(
    {
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
        "charset",
    }
)
# Mislabelled prefixes ("iso-gb2312", "x-gbk", "cs-...") dropped before a second lookup.
_PREFIXES = ("x-", "iso-", "cs")
# The detector reads at most this head of the bytes: it needs a sample, not the whole part.
_DETECT_SAMPLE = 64 * 1024
# A guess of a single-byte charset is taken only with this many 8-bit bytes to judge by: on a short text ("naïve",
# "Ärger") the detector mistakes windows-1252 for Arabic or Thai, and windows-1252 is the likelier legacy charset.
_SINGLE_BYTE_EVIDENCE = 64
# Multi-byte charsets: their byte pairs are evidence enough even in a short header.
_MULTI_BYTE = frozenset(
    {
        "gb18030",
        "gb2312",
        "gbk",
        "hz",
        "big5",
        "big5hkscs",
        "cp950",
        "cp932",
        "shift_jis",
        "shift_jis_2004",
        "shift_jisx0213",
        "euc_jp",
        "euc_jis_2004",
        "euc_jisx0213",
        "iso2022_jp",
        "cp949",
        "euc_kr",
        "johab",
        "iso2022_kr",
    }
)


def codec_for(charset: str | None) -> str | None:
    """Return a Python codec name for a MIME charset label, or None when unusable."""
    label = (charset or "").strip().strip("\"'").lower()
    if label in NO_CHARSET:
        return None
    for candidate in _spellings(label):
        found = _text_codec(_ALIASES.get(candidate, candidate))
        if found:
            return found
    return None


def _spellings(label: str) -> list[str]:
    """The label as written, without a mislabelled prefix, and with its dashes dropped ("cp-850" -> "cp850")."""
    spellings = [label]
    for prefix in _PREFIXES:
        if label.startswith(prefix) and not label.startswith(("iso-8859", "iso-2022", "iso-ir")):
            spellings.append(label[len(prefix) :])
    spellings.extend([s.replace("-", "").replace("_", "") for s in spellings])
    if label.startswith("win-"):
        spellings.append("windows-" + label[4:])
    return spellings


def _text_codec(label: str) -> str | None:
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    # Only text encodings: "base64" or "zlib" as a charset label must not run a byte codec.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def detect_text(data: bytes, preferred: str | None = None) -> str | None:
    """Decode 8-bit bytes that are not UTF-8: with `preferred` (a label the message declares) when it fits, else
    with the codec charset-normalizer finds; None when neither decodes them."""
    for codec in (codec_for(preferred), detect_charset(data)):
        if codec:
            try:
                return data.decode(codec)
            except (UnicodeError, LookupError):
                continue
    return None


def detect_charset(data: bytes) -> str | None:
    """Return the codec charset-normalizer finds for 8-bit bytes, or None when its guess is not to be trusted."""
    # Imported here: most mail never needs it, and a parse worker starts faster without it.
    from charset_normalizer import from_bytes

    sample = data[:_DETECT_SAMPLE]
    best = from_bytes(sample).best()
    if best is None:
        return None
    if best.encoding not in _MULTI_BYTE and sum(byte > 0x7F for byte in sample) < _SINGLE_BYTE_EVIDENCE:
        return None
    return str(best.encoding)
