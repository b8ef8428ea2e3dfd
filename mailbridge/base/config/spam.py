"""The `[spam]` table of mailbridge.toml: which verdicts of our receiving server make a message spam.

Spam is stored on a ticket with status `spam`, and nothing is sent about it: no receipt (no backscatter to a
forged sender), no agent notification (decisions.inbound.spam_verdict). Read by `settings.load_settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SPAM_KEYS = {"read_spam_headers", "score_threshold", "dmarc_fail_is_spam"}


@dataclass(frozen=True)
class SpamSettings:
    # X-Spam-Flag, X-Spam-Status, X-Spam-Score, X-Rspamd-Score, X-Spamd-Result (SpamAssassin, Rspamd).
    read_spam_headers: bool = True
    score_threshold: float = 5.0  # a spam score at or above this is spam (SpamAssassin's default "required")
    # Authentication-Results dmarc=fail for the From domain, from our receiving server ([support] authserv_id).
    dmarc_fail_is_spam: bool = True


def read_spam(section: Any) -> SpamSettings:
    """Read and check `[spam]`."""
    defaults = SpamSettings()
    return SpamSettings(
        read_spam_headers=section.boolean("read_spam_headers", defaults.read_spam_headers),
        score_threshold=section.number("score_threshold", defaults.score_threshold, 0.1),
        dmarc_fail_is_spam=section.boolean("dmarc_fail_is_spam", defaults.dmarc_fail_is_spam),
    )
