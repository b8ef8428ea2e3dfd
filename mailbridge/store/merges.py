"""Store: merged tickets. Where mail for a merged ticket lands (`final_targets`, `resolve`), and the rows a merge
or a split moves (`join`, `move_messages`). In the caller's session; never commits. `service.ticket_merge` decides
with `decisions.merge` and records the history; `tickets.gather_thread_evidence` follows merges for threading.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, bindparam, select, update
from sqlmodel import Session, col

from mailbridge.decisions.kinds import TicketStatus
from mailbridge.decisions.merge import MAX_MERGE_CHAIN, follow_merges
from mailbridge.store import db
from mailbridge.store.models import Message, Ticket

_ticket = db.table_of(Ticket)
_MERGED_INTO = select(_ticket.c.id, _ticket.c.merged_into_id).where(
    _ticket.c.id.in_(bindparam("ids", expanding=True)), _ticket.c.merged_into_id.is_not(None)
)


def final_targets(session: Session, ticket_ids: Collection[int]) -> dict[int, int]:
    """Map each merged ticket among `ticket_ids` to the ticket its mail lands in (the end of its chain of merges).

    One indexed query per step of the longest chain (most mail: one query that finds no merged ticket).
    """
    links: dict[int, int | None] = {}
    asked = set(ticket_ids)
    frontier = set(asked)
    for _ in range(MAX_MERGE_CHAIN):
        if not frontier:
            break
        found: dict[int, int | None] = {
            row[0]: row[1] for row in db.run(session, _MERGED_INTO, {"ids": sorted(frontier)})
        }
        links.update(found)
        frontier = {target for target in found.values() if target is not None and target not in links} - asked
        asked |= frontier
    return {ticket_id: follow_merges(ticket_id, links) for ticket_id in ticket_ids if links.get(ticket_id)}


def resolve(session: Session, ticket: Ticket) -> Ticket:
    """Return the ticket that mail for `ticket` lands in: itself unless it was merged."""
    if ticket.merged_into_id is None:
        return ticket
    assert ticket.id is not None, "a stored ticket"
    target = session.get(Ticket, final_targets(session, (ticket.id,)).get(ticket.id, ticket.id))
    assert target is not None, "merged_into_id is a foreign key"
    return target


def join(session: Session, *, source: Ticket, target: Ticket, now: datetime) -> int:
    """Move every message of `source` to `target` and mark `source` merged into it; return how many moved.

    Its events, outbox rows and ratings stay with `source` (its own history; mail that answers them follows the
    merge), its messages' attachments and thread links go with them.
    """
    moved = move_messages(session, source_ticket_id=source.id, message_ids=None, target_ticket_id=target.id)
    source.status, source.merged_into_id = TicketStatus.MERGED, target.id
    source.status_changed_at = source.updated_at = now
    source.closed_at = source.closed_at or now
    target.updated_at = now
    return moved


def move_messages(
    session: Session, *, source_ticket_id: int | None, message_ids: Collection[int] | None, target_ticket_id: int | None
) -> int:
    """Move messages of one ticket to another (`message_ids` None: all of them); return how many moved."""
    # Flushed first: a message added in this transaction (the agent's `#merge` mail) moves too.
    session.flush()
    statement = update(Message).where(col(Message.ticket_id) == source_ticket_id)
    if message_ids is not None:
        statement = statement.where(col(Message.id).in_(list(message_ids)))
    # The ORM statement, so the rows of this session (that mail's Message) see their new ticket too.
    result = session.execute(
        statement.values(ticket_id=target_ticket_id).execution_options(synchronize_session="fetch")
    )
    return int(cast(CursorResult, result).rowcount or 0)
