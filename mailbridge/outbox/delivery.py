"""Stage: send what the outbox holds. Claim due rows, send each through a MailSender connection, record the outcome.

Called by `runtime.jobs.deliver_outbox` from the daemon's delivery loop and by `run --once`. A pass runs until
nothing is due: up to `connections` workers, each on one SMTP connection kept for many mails, claim small
batches (most urgent kind first, see `store.outbox_queue.claim_due`) and send them. Each item is recorded in
its own transaction; a failure is parked for a retry with backoff or held, never dropped. A crash between the
send and the record means one identical resend: the row's bytes and Message-ID are fixed at enqueue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailbridge.base.clock import Clock
from mailbridge.base.errors import PermanentDeliveryError, TemporaryDeliveryError
from mailbridge.decisions.kinds import EventKind, OutboxStatus
from mailbridge.outbox.smtp import MailConnection, MailSender
from mailbridge.store import db, outbox_queue
from mailbridge.store.models import OutboxMail, Ticket
from mailbridge.store.tickets import record_event

log = logging.getLogger(__name__)
# Called in the transaction that holds a mail (status HELD), to tell its author; the runtime hands it in.
OnHeld = Callable[[Session, OutboxMail, datetime], object]
# Called in the claim's transaction with the ids just claimed, before any is sent: an agent's answer that waited out
# its undo window applies the status change it carried then, once (`service.answer_window.release_claimed`).
OnClaimed = Callable[[Session, list[int], datetime], object]


@dataclass(frozen=True)
class ClaimedMail:
    """What sending one claimed row needs, read in the claim's transaction."""

    outbox_id: int
    mail_from: str
    recipients: list[str]
    raw: bytes
    ticket_id: int | None
    attempt: int  # the row's attempts as claimed: a later claim by another sender counts one more


@dataclass
class DeliveryPass:
    """What every worker of one pass needs, and the counts they add to."""

    engine: Engine
    sender: MailSender
    clock: Clock
    retry_for: timedelta
    on_held: OnHeld | None
    stop: threading.Event | None
    profiles: tuple[str, ...] = ()  # the configured `[smtp.NAME]`: their mail goes through their own senders
    on_claimed: OnClaimed | None = None
    claimer: str | None = None  # the daemon's instance, kept on the rows it claims (outbox_queue.claim_due)
    sent: int = 0
    failed: int = 0

    @property
    def is_stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()


async def deliver_due(
    *,
    engine: Engine,
    sender: MailSender,
    clock: Clock,
    retry_for: timedelta,
    on_held: OnHeld | None = None,
    connections: int = 1,
    stop: threading.Event | None = None,
    profile_senders: Mapping[str, tuple[MailSender, int]] | None = None,
    on_claimed: OnClaimed | None = None,
    claimer: str | None = None,
) -> tuple[int, int]:
    """Send until nothing is due, over up to `connections` SMTP connections at once; return (sent, failed).

    `profile_senders`: per `[smtp.NAME]`, its sender and connections; the mail queued for a profile goes through
    its sender only. A set `stop` ends each worker once the batch in its hands is sent and recorded.
    """
    profiles = dict(profile_senders or {})
    work = DeliveryPass(engine, sender, clock, retry_for, on_held, stop, tuple(profiles), on_claimed, claimer)
    workers = [_deliver_on_one_connection(work, sender, None) for _ in range(connections)]
    for name, (profile_sender, count) in profiles.items():
        workers += [_deliver_on_one_connection(work, profile_sender, name) for _ in range(count)]
    # Every worker runs to its end even when another fails (a database down fails them all in turn): nothing
    # is left half sent, and the first error is raised to the job's boundary.
    outcomes = await asyncio.gather(*workers, return_exceptions=True)
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if errors:
        raise errors[0]
    if work.sent or work.failed:
        log.info("outbox pass sent=%s failed=%s connections=%s", work.sent, work.failed, connections)
    return work.sent, work.failed


async def _deliver_on_one_connection(work: DeliveryPass, sender: MailSender, profile: str | None) -> None:
    """Claim a small batch of `profile`'s mail, send it over this worker's connection, record each; until none is due."""
    async with sender.connection() as connection:
        while not work.is_stopping:
            leased_at, batch = _claim(work, profile)
            if not batch:
                return
            for index, mail in enumerate(batch):
                now = work.clock.now()
                # A slow relay must not let the lease run out under the rest of the batch: another worker would
                # take those mails up and send them a second time.
                if now - leased_at >= outbox_queue.SENDING_LEASE / 2:
                    with db.transaction(work.engine) as session:
                        outbox_queue.renew_lease(
                            session=session, outbox_ids=[m.outbox_id for m in batch[index:]], now=now
                        )
                    leased_at = now
                await _send_one(work, connection, mail)


def _claim(work: DeliveryPass, profile: str | None) -> tuple[datetime, list[ClaimedMail]]:
    """Claim the next batch of one profile's mail in its own transaction, committed before any of it is sent."""
    now, batch = work.clock.now(), []
    with db.transaction(work.engine) as session:
        claimed = outbox_queue.claim_due(
            session=session, now=now, profile=profile, profiles=work.profiles, claimer=work.claimer
        )
        for row in claimed:
            assert row.id is not None, "a stored row"
            batch.append(
                ClaimedMail(row.id, row.mail_from, row.rcpt_to.split(","), row.raw, row.ticket_id, row.attempts)
            )
        if batch and work.on_claimed is not None:
            work.on_claimed(session, [m.outbox_id for m in batch], now)
    return now, batch


async def _send_one(work: DeliveryPass, connection: MailConnection, mail: ClaimedMail) -> None:
    """Send one claimed mail and record the outcome in its own transaction."""
    outbox_id, raw = mail.outbox_id, mail.raw
    # Claimed a moment ago, perhaps in a batch: an admin may have cancelled it since (`outbox cancel`), or this
    # process hung past the lease and another sender took it up. One read on a plain connection (a session costs
    # three times as much per mail).
    with work.engine.connect() as reading:
        reason = outbox_queue.why_not_send(connection=reading, outbox_id=outbox_id, attempt=mail.attempt)
    if reason is not None:
        log.info("not sent outbox_id=%s: %s", outbox_id, reason)
        return
    try:
        # Sent as stored: DKIM-signed when queued (outbox_queue.enqueue), so every attempt sends the same bytes.
        await connection.send(mail_from=mail.mail_from, recipients=mail.recipients, raw=raw)
    except (TemporaryDeliveryError, PermanentDeliveryError) as exc:
        work.failed += 1
        permanent = isinstance(exc, PermanentDeliveryError)
        _record_failure(work, mail, str(exc), permanent)
        return
    except Exception as exc:  # noqa: BLE001 - one of the four boundaries: per outbox item
        work.failed += 1
        log.exception("send crashed outbox_id=%s", outbox_id)
        _record_failure(work, mail, f"{type(exc).__name__}: {exc}", False)
        return
    with db.transaction(work.engine) as session:
        outbox_queue.record_sent(session=session, outbox_id=outbox_id, now=work.clock.now())
    work.sent += 1
    log.info("sent outbox_id=%s rcpt=%s", outbox_id, ",".join(mail.recipients))


def _record_failure(work: DeliveryPass, mail: ClaimedMail, error: str, permanent: bool) -> None:
    now, outbox_id = work.clock.now(), mail.outbox_id
    with db.transaction(work.engine) as session:
        row = outbox_queue.record_failure(
            session=session,
            outbox_id=outbox_id,
            now=now,
            error=error,
            permanent=permanent,
            retry_for=work.retry_for,
            attempt=mail.attempt,
        )
        if row is None:
            log.info("send failed outbox_id=%s, not recorded: another sender has taken the mail up", outbox_id)
            return
        ticket = session.get(Ticket, mail.ticket_id) if mail.ticket_id else None
        if ticket is not None:
            record_event(
                session=session,
                ticket=ticket,
                actor="system",
                kind=EventKind.MAIL_FAILED,
                reason=f"outbox {outbox_id} {row.status}: {error}"[:500],
                now=now,
            )
        if work.on_held is not None and row.status == OutboxStatus.HELD:
            work.on_held(session, row, now)
    log.warning("send failed outbox_id=%s status=%s error=%s", outbox_id, row.status, error)
