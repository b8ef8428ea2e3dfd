"""Decision: answers that wait. Pure. The undo window (when a relayed answer goes out) and collision control (is an
agent's reply written to a notification that another agent's answer or a reassignment has overtaken?).

`service.answer_window` gathers the times from the store and asks these functions; `agent_desk` and
`agent_intake` act on the answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from mailbridge.decisions.agent_commands import STATUS_COMMANDS, AgentReply

# The commands that act on an earlier answer rather than the customer: a reply carrying one does only that.
CANCEL = "cancel"
SEND = "send"
HELD_COMMANDS = frozenset({CANCEL, SEND})


class HeldState(StrEnum):
    """`HeldAnswer.state`."""

    WAITING = "waiting"  # in the undo window: its outbox row is due at `due_at`, its status change waits with it
    RELEASED = "released"  # its outbox row was claimed for sending; the status change was applied then
    CANCELLED = "cancelled"  # recalled (`#cancel`, `tickets cancel`): never sent, kept as a note
    STALE = "stale"  # written to an out-of-date notification: kept as a note until the agent says `#send`
    CONFIRMED = "confirmed"  # a stale answer the agent sent anyway (`#send`)


class Recall(StrEnum):
    """What a `#cancel` or `tickets cancel` finds of an answer."""

    RECALLED = "recalled"
    ALREADY_SENT = "already_sent"  # released: sent, or being sent
    NOTHING = "nothing"


def release_time(now: datetime, delay_seconds: int) -> datetime | None:
    """When a relayed answer may go out: `now` + `[agents] send_delay_seconds`; None: at once (0)."""
    return now + timedelta(seconds=delay_seconds) if delay_seconds > 0 else None


def recall_of(state: HeldState) -> Recall:
    """What recalling an answer in `state` does: only a waiting one can still be taken back."""
    if state is HeldState.WAITING:
        return Recall.RECALLED
    if state is HeldState.RELEASED:
        return Recall.ALREADY_SENT
    return Recall.NOTHING


def answers_customer(reply: AgentReply) -> bool:
    """Whether a parsed reply would relay text to the customer (not a note, a forward, `#cancel` or `#send`)."""
    names = {c.name for c in reply.commands}
    return bool(reply.body) and not reply.is_note and not names & ({"forward"} | HELD_COMMANDS)


def held_command(reply: AgentReply) -> str | None:
    """`cancel` or `send` when the reply carries one of them (the first), else None."""
    return next((c.name for c in reply.commands if c.name in HELD_COMMANDS), None)


def carried_status(reply: AgentReply) -> str | None:
    """The status the reply's last status command moves the ticket to (`#close` -> closed), or None."""
    targets = [STATUS_COMMANDS[c.name] for c in reply.commands if c.name in STATUS_COMMANDS]
    return targets[-1] if targets else None


@dataclass(frozen=True)
class TicketChange:
    """A change on a ticket an agent may not have seen: another agent answered, or the ticket was reassigned."""

    at: datetime
    kind: str  # "answered" or "assigned"
    agent_email: str  # who answered, or to whom the ticket went
    agent_name: str = ""


@dataclass(frozen=True)
class Collision:
    change: TicketChange

    @property
    def who(self) -> str:
        return self.change.agent_name or self.change.agent_email


def find_collision(seen_at: datetime | None, agent_email: str, changes: Iterable[TicketChange]) -> Collision | None:
    """The newest change by or to ANOTHER agent after the agent's notification (`seen_at`), or None.

    An unknown `seen_at` (the reply names none of our mails) is never stale: it is relayed as before.
    An answer wins over an assignment made at the same moment (a first answer also assigns the ticket).
    """
    if seen_at is None:
        return None
    me = agent_email.casefold()
    later = [c for c in changes if c.at > seen_at and c.agent_email.casefold() != me]
    if not later:
        return None
    return Collision(max(later, key=lambda c: (c.at, c.kind == "answered")))


def without_recalled(changes: Iterable[TicketChange], recalled: Iterable[tuple[str, datetime]]) -> list[TicketChange]:
    """The changes but those of answers taken back (`recalled`: each one's agent and when it was written): the
    customer never got such an answer, so it overtakes nobody's notification. The assignment the answer made to its
    author at that moment (a first answer takes the ticket) goes with it; the ticket stays theirs."""
    gone = {(email.casefold(), at) for email, at in recalled}
    return [c for c in changes if (c.agent_email.casefold(), c.at) not in gone]


def seen_time(reply_ids: Sequence[str], sent: dict[str, datetime]) -> datetime | None:
    """When the agent's view was made: the time of our mail the reply answers (its In-Reply-To first, then the
    newest of the References we sent them); None when it names none of them."""
    if reply_ids and reply_ids[0] in sent:
        return sent[reply_ids[0]]
    known = [sent[i] for i in reply_ids[1:] if i in sent]
    return max(known) if known else None
