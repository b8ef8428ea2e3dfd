"""Decision: may an automatic mail go to this address now? Pure; outbox gathers the history.

RFC 3834 keeps us from answering automatic mail; these limits keep a loop that slips past it
(a responder that does not mark its mail, a forwarding rule) from ever growing:
at most `per_address_per_day` automatic mails to one address a day, at most `per_ticket_burst`
to one ticket within `burst_window`, nothing to an address that bounced permanently, that is
flooding us or that is on the blocklist. Agents are guarded too: at most a few notifications about one
ticket an hour each (`decide_agent_notification`), none while its sender floods us.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbridge.base.config.settings import AutoMailLimits

BURST_WINDOW = timedelta(minutes=10)
FLOOD_WINDOW = timedelta(minutes=10)
FLOOD_HOLD = timedelta(minutes=30)
BOUNCE_HOLD = timedelta(days=60)
NOTIFICATION_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class AutoMailHistory:
    """What the store knows about automatic mail to one address and one ticket."""

    sent_to_address_last_day: int
    sent_to_ticket_in_burst_window: int
    suppressed_until: datetime | None
    suppression_reason: str
    blocked_by: str | None = None  # the blocklist entry the address matches (`customers block`)


@dataclass(frozen=True)
class AutoMailDecision:
    allowed: bool
    reason: str


def decide_auto_mail(history: AutoMailHistory, limits: AutoMailLimits, now: datetime) -> AutoMailDecision:
    """Allow an automatic mail, or say which limit stops it."""
    if history.blocked_by:
        return AutoMailDecision(False, f"address blocked ({history.blocked_by})")
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


def decide_agent_notification(sent_in_window: int, per_hour: int, *, sender_is_flooding: bool) -> AutoMailDecision:
    """Allow one more notification of a customer message to an agent about a ticket, or say what stops it.

    `sent_in_window`: notifications of customer messages to this agent about this ticket in NOTIFICATION_WINDOW.
    A stopped one is counted in the agent's next notification about the ticket (store.tickets counts them).
    """
    if sender_is_flooding:
        return AutoMailDecision(False, "the sender is flooding the support mailbox (agents were told once)")
    if sent_in_window >= per_hour:
        return AutoMailDecision(False, f"{per_hour} notifications to this agent about this ticket within an hour")
    return AutoMailDecision(True, "within limits")
