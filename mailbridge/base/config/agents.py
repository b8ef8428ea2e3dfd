"""The `[agents]` table of mailbridge.toml: how much of a customer's mail each agent notification carries, and how
many notifications one agent gets about one ticket, and how long an agent's answer waits before it goes out (the
undo window). Read into frozen settings by `settings.load_settings`.

Errors read like every other configuration error: `file: [agents] attach_files: expected one of ..., got "some"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AGENT_KEYS = {
    "attach_files",
    "attach_max_bytes",
    "max_notifications_per_ticket_per_hour",
    "excerpt_chars",
    "send_delay_seconds",
}
ATTACH_MODES = ("none", "small", "all")


@dataclass(frozen=True)
class AgentMailSettings:
    # "none": files are only listed; "small": attached while together within attach_max_bytes; "all": every file.
    attach_files: str = "small"
    attach_max_bytes: int = 2 * 1024 * 1024
    # Notifications of customer messages to one agent about one ticket in an hour; later ones are counted instead.
    max_notifications_per_ticket_per_hour: int = 5
    excerpt_chars: int = 4000  # of the customer's new text in a notification; the rest: `tickets show`
    # The undo window: an agent's answer waits this long in the outbox (`#cancel`, `tickets cancel`); 0: at once.
    send_delay_seconds: int = 60


def read_agents(section: Any) -> AgentMailSettings:
    """Read and check `[agents]`."""
    defaults = AgentMailSettings()
    return AgentMailSettings(
        attach_files=section.choice("attach_files", ATTACH_MODES, defaults.attach_files),
        attach_max_bytes=section.integer("attach_max_bytes", defaults.attach_max_bytes, 0, 2**31 - 1),
        max_notifications_per_ticket_per_hour=section.integer(
            "max_notifications_per_ticket_per_hour", defaults.max_notifications_per_ticket_per_hour, 1, 10_000
        ),
        excerpt_chars=section.integer("excerpt_chars", defaults.excerpt_chars, 200, 1_000_000),
        send_delay_seconds=section.integer("send_delay_seconds", defaults.send_delay_seconds, 0, 86_400),
    )
