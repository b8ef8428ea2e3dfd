"""Stage: the shop job. Looks customers up in the `[shop]` outside intake, keeps the answers in the cache, and sends
the agent notifications that waited for a new customer's first lookup.

Called by the daemon's shop loop (woken when a poll stored mail, else every minute) and by `run --once` after the
polls, through `jobs.run_job`, with the one clock's `now`. Intake never calls the shop: it parks the notification of
a customer with nothing fresh in the cache (store.shop_cache.should_wait), and this job sends it, with the history
or, when the lookup failed, without it. The first failed lookup of a run ends the lookups of that run (a shop that
hangs costs one `timeout_seconds`), the waiting notifications go out all the same, and the job then fails with the
shop's error, so `mailbridge status` shows it and the admin is alerted after `[schedule] job_alert_after_minutes`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from mailbridge.base.clock import utc
from mailbridge.decisions.kinds import TicketStatus
from mailbridge.decisions.shop import to_payload
from mailbridge.runtime.app import App
from mailbridge.runtime.shop_client import ShopLookupError
from mailbridge.service import agent_mail
from mailbridge.store import db, shop_cache
from mailbridge.store.models import Message, Ticket

log = logging.getLogger(__name__)
REFRESH_PER_RUN = 20  # customers of tickets not closed looked up again per run, beside the waiting ones


@dataclass(frozen=True)
class ShopRound:
    looked_up: int
    notified: int
    error: str | None


def run_shop_lookups(app: App, now: datetime) -> ShopRound:
    """Look up the waiting customers, then stale ones of open tickets; send the waiting notifications.

    Raises: ShopLookupError after the notifications went out, when a lookup failed.
    """
    shop, client = app.settings.shop, app.shop
    if shop is None or client is None:
        # [shop] taken out of the configuration: notifications parked before still go out, without the history.
        return ShopRound(0, send_waiting_notifications(app, now), None)
    with db.transaction(app.engine) as session:
        addresses = [a for a in shop_cache.waiting_addresses(session) if not _fresh(session, a, now, app)]
        addresses += shop_cache.stale_addresses(session, now, shop, REFRESH_PER_RUN)
    looked_up, error = 0, None
    for address in dict.fromkeys(addresses):
        try:
            history = client.look_up(address)
        except ShopLookupError as exc:
            error = str(exc)
            log.warning("shop lookup failed customer=%s error=%s", address, error)
            with db.transaction(app.engine) as session:
                shop_cache.record(session=session, email=address, now=now, payload=None, error=error)
            break
        with db.transaction(app.engine) as session:
            shop_cache.record(session=session, email=address, now=now, payload=to_payload(history))
        looked_up += 1
    notified = send_waiting_notifications(app, now)
    if error is not None:
        raise ShopLookupError(error)
    return ShopRound(looked_up, notified, None)


def _fresh(session, address: str, now: datetime, app: App) -> bool:
    assert app.settings.shop is not None
    return shop_cache.is_fresh(shop_cache.find(session, address), now, app.settings.shop)


def send_waiting_notifications(app: App, now: datetime) -> int:
    """Send every parked notification, with whatever the cache holds now; return how many agents were notified."""
    notified = 0
    while True:
        with db.transaction(app.engine) as session:
            waits = shop_cache.take_waits(session, limit=50)
            for wait in waits:
                ticket, message = session.get(Ticket, wait.ticket_id), session.get(Message, wait.message_id)
                if ticket is None or message is None or ticket.status in (TicketStatus.SPAM, TicketStatus.MERGED):
                    continue  # marked spam or merged since: intake would not notify now either
                notified += agent_mail.notify_agents(
                    app.mail, session=session, ticket=ticket, message=message, now=now, headline=wait.headline
                )
                waited = (now - utc(wait.created_at)).total_seconds() if wait.created_at else 0
                log.info("notified after shop lookup ticket=%s waited_seconds=%.0f", ticket.number, waited)
        if len(waits) < 50:
            return notified
