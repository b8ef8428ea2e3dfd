"""The blocklist of senders, in the caller's session: `customers block|unblock|blocked`, an agent's `#spam`,
and the look-ups of intake (is this sender's mail spam?) and the loop guard (may automatic mail go there?).

Entries are checked by `spam_verdict.block_entry` and matched by `spam_verdict.block_keys`. Never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete
from sqlmodel import Session, col, select

from mailbridge.base.errors import CommandError
from mailbridge.decisions.inbound.spam_verdict import block_entry, block_keys
from mailbridge.store.db import forget_once, insert_values_unless_taken, once_per_transaction, run, table_of
from mailbridge.store.models import BlockedSender

_blocked = table_of(BlockedSender)
_ANY_KEY = ("blocklist", "any")
_ANY = select(_blocked.c.entry).limit(1)
# Core, without autoflush: an entry added in this transaction is written at once by `block`.
_MATCH = (
    select(_blocked.c.entry)
    .where(_blocked.c.entry.in_(bindparam("keys", expanding=True)))
    .order_by(_blocked.c.entry)
    .limit(1)
)


def _any_entry(session: Session) -> bool:
    return run(session, _ANY).first() is not None


def check_entry(text: str) -> str:
    """Return a blocklist entry lower-cased. Raises: CommandError unless it is ADDRESS or @DOMAIN."""
    try:
        return block_entry(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def block(*, session: Session, entry: str, reason: str, actor: str, now: datetime) -> bool:
    """Add an entry; False when it was there already (the first reason stays)."""
    values = {"entry": check_entry(entry), "reason": reason[:500], "actor": actor, "created_at": now}
    forget_once(session, _ANY_KEY)  # later messages of this transaction must see the new entry
    return insert_values_unless_taken(session, _blocked, values, "entry") is not None


def unblock(*, session: Session, entry: str) -> bool:
    """Remove an entry; False when there was none."""
    forget_once(session, _ANY_KEY)
    return run(session, delete(_blocked).where(_blocked.c.entry == check_entry(entry))).rowcount > 0


def find_block(session: Session, address: str | None) -> str | None:
    """The entry that blocks this sender (the address, its domain or a parent domain), or None."""
    # Most installations block nobody: one EXISTS per transaction (an intake batch) instead of a look-up per message.
    if not once_per_transaction(session, _ANY_KEY, lambda: _any_entry(session)):
        return None
    keys = block_keys(address)
    if not keys:
        return None
    return run(session, _MATCH, {"keys": list(keys)}).scalar_one_or_none()


def list_blocked(session: Session) -> list[dict]:
    """Every entry, as plain values, in order."""
    rows = session.exec(select(BlockedSender).order_by(col(BlockedSender.entry)))
    return [{"entry": r.entry, "reason": r.reason, "actor": r.actor, "created_at": r.created_at} for r in rows]
