"""Read side of `mailbridge outbox list`: outgoing mail as plain dicts the CLI prints.

Input: the caller's session and an optional status; output: one dict per outbox row, newest first. Writes nothing.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from mailbridge.store.models import OutboxMail


def list_outbox(*, session: Session, status: str | None = None) -> list[dict]:
    """Return the outgoing mails, of this status when given, newest first."""
    query = select(OutboxMail).order_by(col(OutboxMail.id).desc())
    if status:
        query = query.where(OutboxMail.status == status)
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "status": r.status,
            "to": r.rcpt_to,
            "subject": r.subject,
            "attempts": r.attempts,
            "next_attempt_at": r.next_attempt_at,
            "sent_at": r.sent_at,
            "last_error": r.last_error,
            "message_id": r.message_id,
        }
        for r in session.exec(query)
    ]
