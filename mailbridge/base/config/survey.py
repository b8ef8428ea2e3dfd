"""The `[survey]` table of mailbridge.toml, read into frozen settings.

`settings.load_settings` hands the table in as its `Section` reader (base/config/reader.py), so errors read like every
other configuration error: `file: [survey] window_days: expected an integer 1-365, got 0`.
Whether a Contact sends surveys at all is its `send_survey` column (contacts CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SURVEY_KEYS = {"delay_minutes", "window_days"}


@dataclass(frozen=True)
class SurveySettings:
    delay_minutes: int = 0  # the survey goes out this long after the ticket closed
    window_days: int = 14  # ratings count (and replace earlier ones) this long after the survey


def read_survey(section: Any) -> SurveySettings:
    """Read and check `[survey]`."""
    return SurveySettings(
        delay_minutes=section.integer("delay_minutes", SurveySettings.delay_minutes, 0, 60 * 24 * 30),
        window_days=section.integer("window_days", SurveySettings.window_days, 1, 365),
    )
