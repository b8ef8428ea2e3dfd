"""Decision: may an automatic mail go to this address now? Pure; outbox gathers the history.

RFC 3834 keeps us from answering automatic mail; these limits keep a loop that slips past it
(a responder that does not mark its mail, a forwarding rule) from ever growing:
at most `per_address_per_day` automatic mails to one address a day, at most `per_ticket_burst`
to one ticket within `burst_window`, nothing to an address that bounced permanently or that is
flooding us.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbridge.base.config.settings import AutoMailLimits

BURST_WINDOW = timedelta(minutes=10)
FLOOD_WINDOW = timedelta(minutes=10)
FLOOD_HOLD = timedelta(minutes=30)
BOUNCE_HOLD = timedelta(days=60)


@dataclass(frozen=True)
class AutoMailHistory:
    """What the store knows about automatic mail to one address and one ticket."""

    sent_to_address_last_day: int
    sent_to_ticket_in_burst_window: int
    suppressed_until: datetime | None
    suppression_reason: str


@dataclass(frozen=True)
class AutoMailDecision:
    allowed: bool
    reason: str


def decide_auto_mail(history: AutoMailHistory, limits: AutoMailLimits, now: datetime) -> AutoMailDecision:
    """Allow an automatic mail, or say which limit stops it."""
    if history.suppressed_until is not None and history.suppressed_until > now:
        return AutoMailDecision(
            False, f"address suppressed until {history.suppressed_until:%Y-%m-%d %H:%M} ({history.suppression_reason})"
        )
    if history.sent_to_address_last_day >= limits.per_address_per_day:
        return AutoMailDecision(False, f"{limits.per_address_per_day} automatic mails to this address today")
    if history.sent_to_ticket_in_burst_window >= limits.per_ticket_burst:
        return AutoMailDecision(False, f"{limits.per_ticket_burst} automatic mails to this ticket in 10 minutes")
    return AutoMailDecision(True, "within limits")


def is_flooding(messages_in_window: int, limits: AutoMailLimits) -> bool:
    """Tell whether a sender wrote more than the flood limit within FLOOD_WINDOW."""
    return messages_in_window > limits.flood_messages
