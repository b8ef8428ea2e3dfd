"""The shop look-up cache and the notifications waiting for a lookup: rows of `shopcache` and `shopwait`.

Intake asks `should_wait` and parks a new customer's notification with `wait_for_lookup` (in its own transaction,
never calling the shop); runtime.shop_lookup records answers and failures (`record`) and takes the waits
(`take_waits`); agent_mail reads `cached_history`. Functions take `session=` or a session and never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from mailbridge.base.clock import utc
from mailbridge.base.config.shop import ShopSettings
from mailbridge.decisions.kinds import TicketStatus
from mailbridge.store.models import Customer, ShopCache, ShopWait, Ticket

# Tickets whose customers are kept looked up by the shop job (closed ones are looked up again when mail comes).
QUIET = (TicketStatus.CLOSED, TicketStatus.SPAM, TicketStatus.MERGED)
# A failed lookup is tried again after this long at most, whatever `cache_minutes` says.
RETRY_FAILED = timedelta(minutes=5)


def find(session: Session, email: str) -> ShopCache | None:
    """The cache row of an address, if it was ever looked up."""
    return session.exec(select(ShopCache).where(ShopCache.email == email.strip().lower())).first()


def is_fresh(row: ShopCache | None, now: datetime, shop: ShopSettings) -> bool:
    """Whether a row is younger than `[shop] cache_minutes` (a failure: than RETRY_FAILED, if that is shorter)."""
    if row is None or row.fetched_at is None:
        return False
    life = min(_life(shop), RETRY_FAILED) if row.error else _life(shop)
    return utc(row.fetched_at) > now - life


def should_wait(session: Session, shop: ShopSettings | None, email: str, now: datetime) -> bool:
    """Whether a customer message's notification waits for a lookup: a shop is set up and nothing fresh is cached."""
    return shop is not None and not is_fresh(find(session, email), now, shop)


def wait_for_lookup(
    *, session: Session, message_id: int, ticket_id: int, email: str, headline: str, now: datetime
) -> None:
    """Park a message's agent notification until the shop job has looked its sender up."""
    session.add(
        ShopWait(message_id=message_id, ticket_id=ticket_id, email=email.lower(), headline=headline, created_at=now)
    )


def waiting_addresses(session: Session) -> list[str]:
    """The addresses of the parked notifications, oldest first, each once."""
    rows = session.exec(select(ShopWait.email).order_by(col(ShopWait.id)))
    return list(dict.fromkeys(rows))


def take_waits(session: Session, limit: int = 200) -> list[ShopWait]:
    """The parked notifications, oldest first; each is deleted (its notification goes out in the same session)."""
    # Several daemons run the job: each takes rows no other holds (PostgreSQL; SQLite has one writer anyway).
    query = select(ShopWait).order_by(col(ShopWait.id)).limit(limit).with_for_update(skip_locked=True)
    waits = list(session.exec(query))
    for wait in waits:
        session.delete(wait)
    return waits


def stale_addresses(session: Session, now: datetime, shop: ShopSettings, limit: int) -> list[str]:
    """Customers of tickets not closed whose cache row is missing or older than `cache_minutes`, oldest first."""
    since = now - _life(shop)
    query = (
        select(Customer.email, ShopCache.fetched_at)
        .join(Ticket, col(Ticket.customer_id) == Customer.id)
        .outerjoin(ShopCache, col(ShopCache.email) == Customer.email)
        .where(col(Ticket.status).not_in(QUIET))
        .where(
            col(ShopCache.id).is_(None)
            | (col(ShopCache.fetched_at) <= since)
            | ((col(ShopCache.error) != "") & (col(ShopCache.fetched_at) <= now - RETRY_FAILED))
        )
        .distinct()
    )
    rows = sorted(session.exec(query), key=lambda r: (r[1] is not None, r[1] and utc(r[1])))
    return [email for email, _at in rows][:limit]


def record(*, session: Session, email: str, now: datetime, payload: str | None, error: str = "") -> None:
    """Keep the answer for an address (payload, error ""), or the failure (payload None: an earlier answer stays)."""
    row = find(session, email)
    if row is None:
        row = ShopCache(email=email.strip().lower(), fetched_at=now, payload=payload, error=error)
    else:
        row.fetched_at, row.error = now, error
        if payload is not None:
            row.payload = payload
    session.add(row)
    session.flush()


def _life(shop: ShopSettings) -> timedelta:
    return timedelta(minutes=shop.cache_minutes)
