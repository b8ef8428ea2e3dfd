"""What one agent notification carries of a customer message, read for `agent_mail.send_notification`: the files
it attaches and lists (`[agents] attach_files`), the excerpt of the text, and how many messages of the ticket
came without a notification (the agent rate limit). Reads the caller's session; never writes.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailbridge.decisions.kinds import MessageKind
from mailbridge.decisions.outgoing.compose import OutgoingAttachment
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.notification_size import choose_attachments, excerpt, format_size
from mailbridge.decisions.outgoing.wording import phrase
from mailbridge.decisions.shop import from_payload, summarise
from mailbridge.store import outbox_queue, shop_cache
from mailbridge.store.models import Attachment, Message


def notification_files(
    ctx: MailContext, session: Session, message_id: int, number: str, locale: str
) -> tuple[tuple[OutgoingAttachment, ...], list[str]]:
    """The files a notification attaches (`[agents] attach_files`) and the list it shows: every file with its size."""
    rows = session.execute(
        select(Attachment.id, Attachment.filename, Attachment.size)
        .where(Attachment.message_id == message_id)
        .order_by(Attachment.id)
    ).all()
    attach = choose_attachments([r.size for r in rows], ctx.agents.attach_files, ctx.agents.attach_max_bytes)
    listed = [
        f"{r.filename} ({format_size(r.size)})"
        if attached
        else f"{r.filename} ({format_size(r.size)}, {phrase('not_attached', locale, number=number)})"
        for r, attached in zip(rows, attach, strict=True)
    ]
    chosen = [r.id for r, attached in zip(rows, attach, strict=True) if attached]
    if not chosen:
        return (), listed
    # Only the attached files' bytes are read.
    files = session.exec(select(Attachment).where(col(Attachment.id).in_(chosen)).order_by(Attachment.id))
    return tuple(OutgoingAttachment(a.filename, a.content_type, a.content) for a in files), listed


def text_excerpt(ctx: MailContext, text: str, number: str, locale: str) -> str:
    """A message's text up to `[agents] excerpt_chars`, with a line saying how much more `tickets show` has."""
    cut = excerpt(text, ctx.agents.excerpt_chars)
    if not cut.cut_chars:
        return cut.text
    return f"{cut.text}\n\n{phrase('text_cut', locale, count=cut.cut_chars, number=number)}"


def not_notified(session: Session, ticket_id: int, address: str, message_id: int | None) -> int:
    """Count the customer messages of a ticket after the last one `address` was notified of, before `message_id`."""
    last = outbox_queue.last_notified_message(session=session, ticket_id=ticket_id, address=address)
    if last is None or message_id is None:
        return 0
    query = select(func.count()).where(
        Message.ticket_id == ticket_id,
        Message.kind == MessageKind.CUSTOMER,
        col(Message.id) > last,
        col(Message.id) < message_id,
    )
    return session.execute(query).scalar_one()


def shop_summary(ctx: MailContext, session: Session, email: str, order_number: str | None) -> dict | None:
    """The customer's shop history as the cache has it (decisions.shop.summarise), None without `[shop]` or answer."""
    if ctx.shop is None:
        return None
    row = shop_cache.find(session, email)
    if row is None or row.payload is None:
        return None
    summary = summarise(from_payload(row.payload), ctx.shop.currency, order_number)
    return summary if summary["found"] else None
