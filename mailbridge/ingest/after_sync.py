"""Decision: what happens on the server to a message after intake, pure.

The poller asks `plan_server_step` for every message intake committed (or left alone) and hands
the step to `ImapSource.mark_processed`, which runs only after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mailbridge.base.config.settings import MailboxSettings


class ServerAction(StrEnum):
    SEEN = "seen"  # flag \Seen (the default)
    KEEP = "keep"  # touch nothing
    DELETE = "delete"  # \Deleted + UID EXPUNGE
    MOVE = "move"  # MOVE, or COPY + \Deleted + UID EXPUNGE
    LEAVE = "leave"  # unknown mail left as it was: not stored, not flagged


@dataclass(frozen=True)
class ServerStep:
    action: ServerAction
    folder: str | None = None  # the target of MOVE


def step_for_after_sync(after_sync: str) -> ServerStep:
    """Turn an `after_sync` setting ("seen", "keep", "delete", "move:FOLDER") into a step."""
    if after_sync.startswith("move:"):
        return ServerStep(ServerAction.MOVE, after_sync.removeprefix("move:").strip())
    return ServerStep(ServerAction(after_sync))


def is_unknown_mail(ticket_id: int | None, create_tickets_for_unknown: bool) -> bool:
    """Decide whether a message stays on the server only: it answers no ticket and may not open one."""
    return ticket_id is None and not create_tickets_for_unknown


def plan_server_step(mailbox: MailboxSettings, *, is_unknown: bool) -> ServerStep:
    """Pick the server step for one message: unknown mail is left or moved aside, the rest follows after_sync."""
    if is_unknown:
        return (
            ServerStep(ServerAction.MOVE, mailbox.unknown_folder)
            if mailbox.unknown_folder
            else ServerStep(ServerAction.LEAVE)
        )
    return step_for_after_sync(mailbox.after_sync)
