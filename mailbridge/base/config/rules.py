"""The lifecycle parts of mailbridge.toml: `[sla]` and `[[routing]]`, read into frozen settings.

`settings.load_settings` hands each table in as its `Section` reader (base/config/reader.py), so errors read like every
other configuration error: `file: [sla] timezone: expected ..., got ...`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbridge.base.errors import ConfigError

# Each optional part carries the white space before it: `\s*(?:no)?\s*[:#]?\s*` would let three runs of `\s*` share
# the spaces after "order" in every way (cubic time on mail text).
DEFAULT_ORDER_NUMBER_REGEX = (
    r"(?i)\b(?:order|ordine|objedn[aá]vk[ay]|bestellung|παραγγελία)"
    r"(?:\s*(?:no\.?|nr\.?|n\.?|#|nummer|numero|číslo|č\.?|αρ\.?))?(?:\s*[:#])?\s*(\d{4,12})\b"
)
SLA_KEYS = {
    "first_response_hours",
    "warn_before_hours",
    "working_days",
    "working_hours",
    "timezone",
    "holidays_country",
    "holidays",
    "contacts",
}
# [sla.contacts."NAME"]: a Contact's own business calendar; the keys it leaves out are [sla]'s.
SLA_CONTACT_KEYS = {"working_days", "working_hours", "timezone", "holidays_country", "holidays"}
ROUTING_KEYS = {"category", "recipients", "subject_keywords"}


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_working_hours(text: str) -> tuple[time, time]:
    """Read "09:00-17:00" into (opens, closes).

    Raises: ValueError when the text is not two HH:MM times with opens before closes.
    """
    first, _, second = text.partition("-")
    opens, closes = time.fromisoformat(first.strip()), time.fromisoformat(second.strip())
    if opens >= closes:
        raise ValueError("opening time must be before closing time")
    return opens, closes


@dataclass(frozen=True)
class SlaSettings:
    first_response_hours: float = 24.0
    warn_before_hours: float = 4.0
    working_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    working_hours: str = "09:00-17:00"
    timezone: str = "Europe/Rome"
    holidays_country: str | None = None
    holidays: tuple[date, ...] = ()  # closed days besides the country's public holidays
    # first_response_hours was written in [sla]: the receipt then says by when to expect an answer.
    first_response_configured: bool = False
    # [sla.contacts."NAME"]: (Contact name, its calendar: these settings with the Contact's own keys).
    contacts: tuple[tuple[str, SlaSettings], ...] = ()

    def for_contact(self, name: str | None) -> SlaSettings:
        """The settings whose calendar counts the Contact's hours: its `[sla.contacts."NAME"]`, else these."""
        for own_name, own in self.contacts:
            if own_name == name:
                return own
        return self


@dataclass(frozen=True)
class RoutingRule:
    category: str  # "Orders > Returns"
    recipients: tuple[str, ...] = ()  # lower-cased addresses
    subject_keywords: tuple[str, ...] = ()  # case-folded


def string_list(section: Any, key: str) -> tuple[str, ...]:
    """Read a list of non-empty strings (absent: empty)."""
    value = section.table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        section.fail(key, "expected a list of non-empty strings", value)
    return tuple(v.strip() for v in value)


def read_sla(section: Any) -> SlaSettings:
    """Read and check `[sla]` and its `[sla.contacts."NAME"]` tables."""
    calendar = _read_calendar(section, SlaSettings())
    sla = SlaSettings(
        first_response_hours=section.number("first_response_hours", SlaSettings.first_response_hours, 0.0),
        warn_before_hours=section.number("warn_before_hours", SlaSettings.warn_before_hours, 0.0),
        first_response_configured="first_response_hours" in section.table,
        **calendar,
    )
    tables = section.table.get("contacts", {})
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        section.fail("contacts", 'expected [sla.contacts."NAME"] tables', tables)
    own = []
    for name, table in tables.items():
        contact_section = type(section)(section.path, f'sla.contacts."{name}"', table, SLA_CONTACT_KEYS)
        own.append((name, replace(sla, **_read_calendar(contact_section, sla))))
    return replace(sla, contacts=tuple(own))


def _read_calendar(section: Any, base: SlaSettings) -> dict[str, Any]:
    """Read the calendar keys of `[sla]` or of a Contact's table; a key left out keeps `base`'s value."""
    days = string_list(section, "working_days") or base.working_days
    for day in days:
        if day.lower() not in WEEKDAYS:
            section.fail("working_days", "expected weekday names " + ", ".join(WEEKDAYS), day)
    hours = section.text("working_hours", base.working_hours)
    try:
        parse_working_hours(hours)
    except ValueError:
        section.fail("working_hours", 'expected "HH:MM-HH:MM" with the start before the end', hours)
    zone = section.text("timezone", base.timezone)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        section.fail("timezone", 'expected an IANA time zone like "Europe/Rome"', zone)
    country = section.text("holidays_country", base.holidays_country)
    if country:
        _check_country(section, country)
    return {
        "working_days": tuple(d.lower() for d in days),
        "working_hours": hours,
        "timezone": zone,
        "holidays_country": country.upper() if country else None,
        "holidays": _read_holidays(section) if "holidays" in section.table else base.holidays,
    }


def _read_holidays(section: Any) -> tuple[date, ...]:
    """Read `holidays`: dates, as TOML dates or "YYYY-MM-DD" strings."""
    value = section.table["holidays"]
    if not isinstance(value, list):
        section.fail("holidays", 'expected a list of dates like ["2026-12-24", "2026-12-25"]', value)
    found = []
    for item in value:
        if type(item) is date:
            found.append(item)
            continue
        try:
            found.append(date.fromisoformat(item.strip()))
        except (AttributeError, ValueError):
            section.fail("holidays", 'expected dates like "2026-12-24"', item)
    return tuple(sorted(set(found)))


def _check_country(section: Any, country: str) -> None:
    try:
        import holidays
    except ImportError:
        section.fail("holidays_country", "expected the `holidays` package to be installed", country)
    if country.upper() not in holidays.list_supported_countries():
        section.fail("holidays_country", "expected an ISO 3166 country code the holidays package knows", country)


def read_routing(path: Any, tables: Any, make_section: Any) -> tuple[RoutingRule, ...]:
    """Read every `[[routing]]` table; each needs a category and at least one condition."""
    if not isinstance(tables, list):
        raise ConfigError(f"{path}: routing: expected [[routing]] tables, got {tables!r}")
    rules = []
    for index, table in enumerate(tables):
        section = make_section(path, f"routing.{index}", table, ROUTING_KEYS)
        recipients = tuple(r.lower() for r in string_list(section, "recipients"))
        keywords = tuple(k.casefold() for k in string_list(section, "subject_keywords"))
        if not recipients and not keywords:
            section.fail(None, "expected recipients or subject_keywords", table)
        rules.append(RoutingRule(section.text("category", required=True), recipients, keywords))
    return tuple(rules)


def read_regex(section: Any, key: str, default: str) -> str:
    """Read a regular expression that must compile."""
    value = section.text(key, default)
    try:
        re.compile(value)
    except re.error as exc:
        section.fail(key, f"expected a valid regular expression ({exc})", value)
    return value
