"""Stage: send what the outbox holds. Claim due rows, send each through the MailSender, record the outcome.

Called by `runtime.jobs.deliver_outbox` on the daemon's schedule and by `run --once`. Each item is recorded
in its own transaction; a failure is parked for a retry with backoff or held, never dropped. A crash between
the send and the record means one identical resend: the row's bytes and Message-ID are fixed at enqueue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailbridge.base.clock import Clock
from mailbridge.base.errors import PermanentDeliveryError, TemporaryDeliveryError
from mailbridge.decisions.kinds import EventKind, OutboxStatus
from mailbridge.outbox.dkim import DkimSigner
from mailbridge.outbox.smtp import MailSender
from mailbridge.store import db, outbox_queue
from mailbridge.store.models import OutboxMail, Ticket
from mailbridge.store.tickets import record_event

log = logging.getLogger(__name__)
# Called in the transaction that holds a mail (status HELD), to tell its author; the runtime hands it in.
OnHeld = Callable[[Session, OutboxMail, datetime], object]


async def deliver_due(
    *,
    engine: Engine,
    sender: MailSender,
    signer: DkimSigner,
    clock: Clock,
    retry_for: timedelta,
    on_held: OnHeld | None = None,
) -> tuple[int, int]:
    """Send what is due now; return (sent, failed) counts of this round."""
    claimed: list[tuple[int, str, list[str], bytes, int | None]] = []
    with db.transaction(engine) as session:
        for row in outbox_queue.claim_due(session=session, now=clock.now()):
            assert row.id is not None, "a stored row"
            claimed.append((row.id, row.mail_from, row.rcpt_to.split(","), row.raw, row.ticket_id))
    sent = failed = 0
    for outbox_id, mail_from, recipients, raw, ticket_id in claimed:
        try:
            await sender.send(mail_from=mail_from, recipients=recipients, raw=signer.sign(raw))
        except (TemporaryDeliveryError, PermanentDeliveryError) as exc:
            failed += 1
            permanent = isinstance(exc, PermanentDeliveryError)
            _record_failure(engine, clock, retry_for, outbox_id, ticket_id, str(exc), permanent, on_held)
            continue
        except Exception as exc:  # noqa: BLE001 - one of the four boundaries: per outbox item
            failed += 1
            log.exception("send crashed outbox_id=%s", outbox_id)
            _record_failure(
                engine, clock, retry_for, outbox_id, ticket_id, f"{type(exc).__name__}: {exc}", False, on_held
            )
            continue
        with db.transaction(engine) as session:
            outbox_queue.record_sent(session=session, outbox_id=outbox_id, now=clock.now())
        sent += 1
        log.info("sent outbox_id=%s rcpt=%s", outbox_id, ",".join(recipients))
    return sent, failed


def _record_failure(
    engine: Engine,
    clock: Clock,
    retry_for: timedelta,
    outbox_id: int,
    ticket_id: int | None,
    error: str,
    permanent: bool,
    on_held: OnHeld | None,
) -> None:
    now = clock.now()
    with db.transaction(engine) as session:
        row: OutboxMail = outbox_queue.record_failure(
            session=session, outbox_id=outbox_id, now=now, error=error, permanent=permanent, retry_for=retry_for
        )
        ticket = session.get(Ticket, ticket_id) if ticket_id else None
        if ticket is not None:
            record_event(
                session=session,
                ticket=ticket,
                actor="system",
                kind=EventKind.MAIL_FAILED,
                reason=f"outbox {outbox_id} {row.status}: {error}"[:500],
                now=now,
            )
        if on_held is not None and row.status == OutboxStatus.HELD:
            on_held(session, row, now)
    log.warning("send failed outbox_id=%s status=%s error=%s", outbox_id, row.status, error)
