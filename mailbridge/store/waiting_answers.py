"""Store: a waiting answer (`heldanswer`, state waiting) whose outbox row an admin gave up with `outbox cancel`.

`service.answer_window` takes waiting answers back for `#cancel` and `tickets cancel`, telling their author; the
admin's `outbox cancel` opens only the store, so `end_cancelled` ends the answer's row the same way here (taken
back, kept as a note, in the history), and nothing is left "waiting" for `tickets cancel`. Never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from mailbridge.decisions.held_answers import HeldState
from mailbridge.decisions.kinds import EventKind, MessageKind
from mailbridge.store.models import HeldAnswer, Message, Ticket
from mailbridge.store.tickets import record_event


def end_cancelled(session: Session, *, outbox_id: int, actor: str, now: datetime) -> bool:
    """End the waiting answer whose outbox row was just cancelled: taken back, its copy kept as a note, the status
    change it carried dropped; False when the row was no waiting answer."""
    held = session.exec(select(HeldAnswer).where(HeldAnswer.outbox_id == outbox_id).with_for_update()).first()
    if held is None or held.state != HeldState.WAITING:
        return False
    held.state, held.finished_at = HeldState.CANCELLED, now
    copy = session.get(Message, held.copy_message_id) if held.copy_message_id else None
    if copy is not None:
        # Kept as a note, as `#cancel` keeps it: agents still read it, the customer never saw it.
        copy.kind = MessageKind.AGENT_NOTE
    ticket = session.get(Ticket, held.ticket_id)
    assert ticket is not None, "HeldAnswer.ticket_id is a NOT NULL foreign key"
    record_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind=EventKind.ANSWER_RECALLED,
        reason=f"outbox {outbox_id} cancelled; the answer is kept as a note",
        now=now,
    )
    return True
