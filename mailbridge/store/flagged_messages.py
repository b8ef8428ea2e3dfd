"""Stored mail an admin acknowledges: `messages dismiss` turns a quarantined or too-large message into `dismissed`.

The caller owns the transaction. The raw bytes stay stored and the original reason stays first in the defects
(`decisions.parked_mail`), so `messages list --kind dismissed` still shows why it was parked; a dismissed message
counts no more in `status --check`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from mailbridge.base.errors import CommandError, NotFoundError
from mailbridge.decisions.kinds import MessageKind
from mailbridge.decisions.parked_mail import dismiss_refusal, dismissed_defects
from mailbridge.store.models import Message


def dismiss(*, session: Session, message_row_id: int, actor: str, now: datetime) -> str:
    """Mark a quarantined or too-large message dismissed, noting who and when; return the kind it had.

    Raises: NotFoundError for an unknown id; CommandError for a message of another kind.
    """
    row = session.get(Message, message_row_id, with_for_update=True)
    if row is None:
        raise NotFoundError(f"no stored message with id {message_row_id}")
    if refusal := dismiss_refusal(message_row_id, row.kind):
        raise CommandError(refusal)
    was = row.kind
    row.kind, row.defects = MessageKind.DISMISSED, dismissed_defects(row.defects, was, actor, now)
    return was
