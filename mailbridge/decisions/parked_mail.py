"""Decision: what an admin may do with parked mail (`outbox cancel`/`retry`, `messages dismiss`), and how it is recorded. Pure.

Values in (a row's status or kind, its recorded error or defects, who and when); out a refusal to show, or the text
the row keeps. `store.outbox_queue.cancel` and `store.flagged_messages.dismiss` write what is decided here.
"""

from __future__ import annotations

from datetime import datetime

from mailbridge.decisions.kinds import MessageKind, OutboxStatus

# Mail not sent yet. A `sending` row may be in a sender's hands: the sender checks again before each mail.
CANCELLABLE = (OutboxStatus.QUEUED, OutboxStatus.HELD, OutboxStatus.SENDING)
# Messages kept raw that count as needing a person (`status --check` counts the quarantined ones).
DISMISSABLE = (MessageKind.QUARANTINED, MessageKind.TOO_LARGE)
MAX_ERROR_CHARS = 500  # OutboxMail.last_error's length, as record_failure keeps it
DISMISSED_PREFIX = "dismissed "


def cancel_refusal(outbox_id: int, status: str) -> str | None:
    """Why the outbox item cannot be cancelled, or None when it can."""
    if status in CANCELLABLE:
        return None
    if status == OutboxStatus.CANCELLED:
        return f"outbox item {outbox_id} is cancelled already"
    return f"outbox item {outbox_id} is {status}, not queued or held: only unsent mail can be cancelled"


def retry_refusal(
    outbox_id: int,
    *,
    taken_back: bool,
    ticket_number: str | None,
    status: str = OutboxStatus.HELD,
    resend: bool = False,
) -> str | None:
    """Why the outbox item cannot be queued again, or None when it can.

    An agent's answer taken back in its undo window (`#cancel`, `tickets cancel`, `outbox cancel`) is never sent:
    its author was told so, its copy is a note and the status change it carried was dropped. Mail being sent now
    is a sender's (a dead sender's claim runs out and the mail is tried again by itself). Mail sent or bounced
    already goes out a second time only when asked for by name (`resend`): a retry must not double a mail.
    """
    if taken_back:
        on = f" on ticket {ticket_number}" if ticket_number else ""
        return (
            f"outbox item {outbox_id} is an agent's answer taken back in its undo window (kept as a note{on}): "
            "it is never sent; answer the ticket again instead"
        )
    if status == OutboxStatus.SENDING:
        return (
            f"outbox item {outbox_id} is being sent now; if its sender died, it is tried again by itself "
            "once the claim runs out"
        )
    if status in (OutboxStatus.SENT, OutboxStatus.BOUNCED) and not resend:
        return (
            f"outbox item {outbox_id} is {status} already; `outbox retry {outbox_id} --resend` sends the same mail "
            "again"
        )
    return None


def cancelled_error(last_error: str, actor: str, now: datetime) -> str:
    """The `last_error` of a cancelled item: who cancelled it and when, then the error it had, if any."""
    note = f"cancelled by {actor} at {_stamp(now)}"
    return (f"{note}; last error: {last_error}" if last_error else note)[:MAX_ERROR_CHARS]


def dismiss_refusal(message_row_id: int, kind: str) -> str | None:
    """Why the stored message cannot be dismissed, or None when it can."""
    if kind in DISMISSABLE:
        return None
    if kind == MessageKind.DISMISSED:
        return f"message {message_row_id} is dismissed already"
    return f"message {message_row_id} is {kind}, not quarantined or too_large: only those can be dismissed"


def dismissed_defects(defects: str, kind: str, actor: str, now: datetime) -> str:
    """The defects of a dismissed message: the original reason first (what `messages list` shows), then who and when."""
    return "\n".join(line for line in (defects, f"{DISMISSED_PREFIX}{kind} by {actor} at {_stamp(now)}") if line)


def kind_before_dismissal(defects: str) -> str | None:
    """The kind a dismissed message had, read back from its defects; None when it was never dismissed."""
    lines = defects.splitlines()
    if not lines or not lines[-1].startswith(DISMISSED_PREFIX):
        return None
    return lines[-1].removeprefix(DISMISSED_PREFIX).split(" ", 1)[0]


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
