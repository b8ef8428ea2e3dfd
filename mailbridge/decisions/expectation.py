"""Decision: when a new ticket's customer may expect an answer, and how the receipt says it. Pure.

Input: when the mail came, the first-response hours (the Contact's or [sla]'s), the business calendar of the
Contact (its `[sla.contacts."NAME"]`, else [sla]: working days, hours, holidays, time zone); output: the instant, and the words for it in the customer's language
("Monday 10:00 (CET)"). Intake calls it for the receipt; the template puts "by" / "bis" / "entro" / "do" / "έως"
in front.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from mailbridge.base.config.rules import SlaSettings
from mailbridge.decisions.business_hours import BusinessCalendar, calendar_of, due_at
from mailbridge.decisions.inbound.language import FALLBACK

# Weekdays (Monday first) as they stand after the template's "by": Czech "do" takes the genitive.
WEEKDAY_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "it": ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
    "cs": ("pondělí", "úterý", "středy", "čtvrtka", "pátku", "soboty", "neděle"),
    "el": ("Δευτέρα", "Τρίτη", "Τετάρτη", "Πέμπτη", "Παρασκευή", "Σάββατο", "Κυριακή"),
}
# Months as they stand after a day number (genitive in Czech and Greek).
MONTH_WORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "de": (
        "Januar", "Februar", "März", "April", "Mai", "Juni",
        "Juli", "August", "September", "Oktober", "November", "Dezember",
    ),
    "it": (
        "gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno",
        "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre",
    ),
    "cs": (
        "ledna", "února", "března", "dubna", "května", "června",
        "července", "srpna", "září", "října", "listopadu", "prosince",
    ),
    "el": (
        "Ιανουαρίου", "Φεβρουαρίου", "Μαρτίου", "Απριλίου", "Μαΐου", "Ιουνίου",
        "Ιουλίου", "Αυγούστου", "Σεπτεμβρίου", "Οκτωβρίου", "Νοεμβρίου", "Δεκεμβρίου",
    ),
}  # fmt: skip
# The day and month of a date more than a week ahead, after the weekday.
_DATE_FORMATS = {"en": "{day} {month}", "de": "{day}. {month}", "it": "{day} {month}", "cs": "{day}. {month}"}
# A weekday name alone is clear for the next six days; further out the date is added.
WEEKDAY_ONLY_DAYS = 7


def expected_answer_by(received_at: datetime, hours: float, calendar: BusinessCalendar) -> datetime | None:
    """The instant `hours` working hours after `received_at`; None when the calendar has no working hours."""
    try:
        return due_at(received_at, hours, calendar)
    except ValueError:
        return None


def expectation_for(
    received_at: datetime, contact_hours: float | None, sla: SlaSettings
) -> tuple[datetime, float] | None:
    """The expected answer time and the hours it counts, or None when neither the Contact nor [sla] sets hours."""
    if contact_hours is None and not sla.first_response_configured:
        return None
    hours = contact_hours if contact_hours is not None else sla.first_response_hours
    if hours <= 0:
        return None
    when = expected_answer_by(received_at, hours, calendar_of(sla, received_at.year))
    return (when, hours) if when is not None else None


def expectation_words(when: datetime, now: datetime, zone: ZoneInfo, locale: str) -> str:
    """Say `when` in `zone` for a customer of `locale`: "Monday 10:00 (CET)", with the date when a week or more away."""
    words = locale if locale in WEEKDAY_WORDS else FALLBACK
    local, today = when.astimezone(zone), now.astimezone(zone).date()
    text = WEEKDAY_WORDS[words][local.weekday()]
    if (local.date() - today).days >= WEEKDAY_ONLY_DAYS:
        month = MONTH_WORDS[words][local.month - 1]
        text += ", " if words in ("en", "de") else " "
        text += _DATE_FORMATS.get(words, "{day} {month}").format(day=local.day, month=month)
    return f"{text} {local:%H:%M} ({local.tzname()})"


def receipt_expectation(received_at: datetime, contact_hours: float | None, sla: SlaSettings, locale: str) -> dict:
    """The receipt's template values `expected_by` (the instant) and `expected_by_text`; empty without hours.

    `sla` is the Contact's (`SlaSettings.for_contact`): its calendar counts the hours and its zone names the time.
    """
    found = expectation_for(received_at, contact_hours, sla)
    if found is None:
        return {}
    when, _hours = found
    return {
        "expected_by": when,
        "expected_by_text": expectation_words(when, received_at, ZoneInfo(sla.timezone), locale),
    }
