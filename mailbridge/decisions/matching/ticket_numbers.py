"""Public ticket numbers: 11 digits, random (not sequential), the last one a Damm check digit.

The Damm check digit catches every single mistyped digit and every swap of two neighbours,
so a mistyped number matches no ticket.
"""

from __future__ import annotations

import re
import secrets

NUMBER_LENGTH = 11

_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_digit(digits: str) -> str:
    """Return the Damm check digit for a string of digits."""
    interim = 0
    for char in digits:
        interim = _DAMM[interim][int(char)]
    return str(interim)


def new_ticket_number(randbelow=secrets.randbelow) -> str:
    """Draw a fresh random ticket number with its check digit."""
    body = str(10**9 + randbelow(9 * 10**9))
    return body + damm_digit(body)


def is_valid_ticket_number(number: str) -> bool:
    """Tell whether `number` has the right length and a correct check digit."""
    return len(number) == NUMBER_LENGTH and number.isdigit() and damm_digit(number) == "0"


def subject_number_pattern(subject_format: str) -> re.Pattern[str]:
    """Build the regex that finds a ticket number in a subject, from the configured format.

    "[#{number}] {subject}" gives a pattern for "[#NNNNNNNNNNN]".
    """
    marker = subject_format.replace("{subject}", "").strip()
    before, _, after = marker.partition("{number}")
    # White space only next to text of the marker: a `\s*` at an open end would make a search scan every run of
    # spaces from each of its positions (quadratic in a subject of spaces).
    opening = re.escape(before) + r"\s*" if before else ""
    closing = r"\s*" + re.escape(after) if after else ""
    return re.compile(opening + rf"(\d{{{NUMBER_LENGTH}}})" + closing)


def find_subject_numbers(subject: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Return every valid ticket number the subject carries, in order."""
    return tuple(n for n in pattern.findall(subject) if is_valid_ticket_number(n))


def format_subject(subject_format: str, number: str, subject: str) -> str:
    """Put the ticket number into a subject once, whatever the subject already carries."""
    pattern = subject_number_pattern(subject_format)
    bare = pattern.sub("", subject).strip()
    return subject_format.replace("{number}", number).replace("{subject}", bare).strip()
