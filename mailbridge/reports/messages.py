"""Read side of `mailbridge messages list`: stored mail that needs a person, as plain dicts the CLI prints.

Input: the caller's session and an optional kind; output: one dict per message, newest first. Writes nothing.
"""

from __future__ import annotations

from sqlmodel import Session, col, or_, select

from mailbridge.decisions.kinds import MessageKind
from mailbridge.store.models import Message
from mailbridge.store.raw_files import raw_size

# Dismissed messages stay listed (what they were, why, and who dismissed them); they no longer count in `status`.
FLAGGED_KINDS = (
    MessageKind.QUARANTINED,
    MessageKind.TOO_LARGE,
    MessageKind.DISMISSED,
    MessageKind.FORGED_AGENT_REPLY,
)


def list_flagged_messages(*, session: Session, kind: str | None = None) -> list[dict]:
    """Return the messages of this kind, else the malformed and flagged ones, newest first."""
    query = select(Message).order_by(col(Message.id).desc())
    query = (
        query.where(Message.kind == kind)
        if kind
        else query.where(or_(col(Message.is_malformed), col(Message.kind).in_(FLAGGED_KINDS)))
    )
    return [
        {
            "id": m.id,
            "kind": m.kind,
            "mailbox": m.mailbox,
            "folder": m.folder,
            "uid": m.uid,
            "from": m.from_addr,
            "subject": m.subject,
            "ticket_id": m.ticket_id,
            "raw_bytes": raw_size(m),
            "stored_at": m.stored_at,
            "defects": m.defects.splitlines(),
        }
        for m in session.exec(query)
    ]
