"""How every report shows a time (`format_time`: in `[sla] timezone`, with its UTC offset, to the second) and
stored text (`visible_text`: control and bidi characters made visible). Called by the CLI's report commands.

The statistics' tables are in `stats_render.py` (rich is loaded only by `stats`), the HTML page in `stats_html.py`.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from mailbridge.base.clock import utc
from mailbridge.base.config.settings import Settings


def display_zone(settings: Settings) -> ZoneInfo:
    """The zone reports show times in: `[sla] timezone`, the one the business hours are counted in."""
    return ZoneInfo(settings.sla.timezone)


def format_time(value: datetime | None, zone: tzinfo, *, iso: bool = False) -> str | None:
    """Show a time in `zone` with its UTC offset, to the second: `2026-12-02 14:03:07 +01:00`.

    iso=True gives ISO 8601 for JSON (`2026-12-02T14:03:07+01:00`). A naive value is UTC (SQLite hands those back).
    None stays None in ISO and is "-" otherwise.
    """
    if value is None:
        return None if iso else "-"
    local = utc(value).astimezone(zone).replace(microsecond=0)
    if iso:
        return local.isoformat()
    text = local.isoformat(sep=" ")
    return f"{text[:19]} {text[19:]}"


def with_local_times(data: Any, zone: tzinfo) -> Any:
    """Return `data` (dicts, lists) with every datetime in it as ISO 8601 in `zone` with its offset, for JSON."""
    if isinstance(data, datetime):
        return format_time(data, zone, iso=True)
    if isinstance(data, dict):
        return {key: with_local_times(value, zone) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [with_local_times(value, zone) for value in data]
    return data


# Characters a terminal acts on or that reorder what it shows (issue 16: a subject that sets the window title or
# clears the screen). C0 controls and DEL become their Unicode Control Pictures (ESC -> ␛); C1 controls (U+0080 to
# U+009F, 0x9B is an 8-bit CSI) and the bidi marks, embeddings, overrides and isolates become `<U+202E>`.
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_HIDDEN = {code: f"<U+{code:04X}>" for code in (*range(0x80, 0xA0), *_BIDI)}
_ONE_LINE = {code: chr(0x2400 + code) for code in range(0x20)} | {0x7F: "\u2421"} | _HIDDEN
_LINES = {code: picture for code, picture in _ONE_LINE.items() if code not in (0x09, 0x0A)}
# In JSON the same characters are written as \u escapes: the value a program reads back is unchanged.
_JSON_HIDDEN = {code: f"\\u{code:04x}" for code in _HIDDEN}
# The fields of stored mail printed as several lines (message bodies); every other text is one line.
MULTILINE_FIELDS = frozenset({"text", "stripped_text"})


def visible_text(text: str | None, *, multiline: bool = False) -> str:
    """Return stored text fit to print on a terminal: every control or bidi character made visible.

    multiline=True (a message body) keeps line feeds and tabs, and reads CRLF as a line feed.
    """
    if not text:
        return ""
    if multiline:
        return text.replace("\r\n", "\n").translate(_LINES)
    return text.translate(_ONE_LINE)


def visible_values(data: Any, multiline: frozenset[str] = MULTILINE_FIELDS) -> Any:
    """Return `data` (dicts, lists) with every string passed through visible_text; keys in `multiline` keep lines."""
    if isinstance(data, str):
        return visible_text(data)
    if isinstance(data, dict):
        return {
            key: visible_text(value, multiline=True)
            if key in multiline and isinstance(value, str)
            else visible_values(value, multiline)
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [visible_values(value, multiline) for value in data]
    return data


def json_visible(text: str) -> str:
    """Escape C1 and bidi characters in JSON text as \\u escapes (json.dumps escapes only C0 ones)."""
    return text.translate(_JSON_HIDDEN)
