"""Stage: the durable outbox. enqueue, claim_due, record_sent, record_failure, cancel.

Callers own the transaction. A mail is rendered and given its Message-ID when enqueued, so
every resend is the same mail. Delivery is at-least-once: an attempt is recorded (and
committed) before the SMTP conversation starts; an attempt left `sending` by a crash is taken
up again after SENDING_LEASE with the identical bytes and Message-ID. Claims come in small
batches, most urgent kind first (`decisions.outbox_priority`), and a sender renews the lease of
its batch while it works through it (`renew_lease`). A mail an admin cancels is never claimed again, and a sender
holding it asks `why_not_send` right before it sends (cancelled, or claimed again by another sender after its
lease ran out while this one was frozen).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr

from sqlalchemy import Connection, bindparam, func, or_, true, update
from sqlmodel import Session, col, select

from mailbridge.base.clock import utc
from mailbridge.base.config.settings import AutoMailLimits
from mailbridge.base.errors import CommandError, NotFoundError
from mailbridge.decisions.held_answers import HeldState
from mailbridge.decisions.inbound.bounces import BounceReport, main_recipient_failed
from mailbridge.decisions.kinds import EventKind, MailKind, OutboxStatus
from mailbridge.decisions.loop_guard import (
    BOUNCE_HOLD,
    BURST_WINDOW,
    AutoMailDecision,
    AutoMailHistory,
    decide_auto_mail,
)
from mailbridge.decisions.outbox_priority import mail_priority
from mailbridge.decisions.outgoing.compose import mail_bytes
from mailbridge.decisions.parked_mail import cancel_refusal, cancelled_error, retry_refusal
from mailbridge.store.blocklist import find_block
from mailbridge.store.db import insert_unless_taken, insert_values_unless_taken, run, table_of
from mailbridge.store.models import AddressSuppression, Contact, HeldAnswer, OutboxMail, Ticket
from mailbridge.store.tickets import record_event

# Long enough for a small batch on a slow relay, short enough that a crash parks its mail only briefly: a sender
# renews the lease of the rest of its batch once half of it has passed (`renew_lease`).
SENDING_LEASE = timedelta(minutes=2)
CLAIM_BATCH = 5  # mails claimed at a time by one connection
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=2)


_AUTOMATIC = select(func.count()).select_from(OutboxMail).where(OutboxMail.is_automatic)
# One round trip for the loop guard: both counts and any suppression of the address. ORM columns on purpose:
# the query autoflushes, so a suppression added in this transaction (a flood, a bounce) counts at once.
_AUTO_HISTORY = select(
    _AUTOMATIC.where(
        OutboxMail.rcpt_to == bindparam("address"), col(OutboxMail.created_at) >= bindparam("day_start")
    ).scalar_subquery(),
    _AUTOMATIC.where(
        OutboxMail.ticket_id == bindparam("ticket_id"), col(OutboxMail.created_at) >= bindparam("burst_start")
    ).scalar_subquery(),
    select(AddressSuppression.until).where(AddressSuppression.address == bindparam("address")).scalar_subquery(),
    select(AddressSuppression.reason).where(AddressSuppression.address == bindparam("address")).scalar_subquery(),
)
# Core (no autoflush): outbox rows are written directly by enqueue, so they are in the database already.
_outbox = table_of(OutboxMail)
_ID_BY_DEDUPE_KEY = select(_outbox.c.id).where(_outbox.c.dedupe_key == bindparam("key"))
_CLAIM_OF = select(_outbox.c.status, _outbox.c.attempts).where(_outbox.c.id == bindparam("outbox_id"))
# The `[smtp.NAME]` profile of the Contact whose address a mail is from (a brand); none: [smtp].
_contact = table_of(Contact)
_PROFILE_OF_SENDER = select(_contact.c.smtp).where(_contact.c.email == bindparam("address"))
# Notifications of customer messages to one agent about one ticket since a moment (the agent rate limit).
_NOTIFICATIONS_SINCE = (
    select(func.count())
    .select_from(_outbox)
    .where(
        _outbox.c.ticket_id == bindparam("ticket_id"),
        _outbox.c.rcpt_to == bindparam("address"),
        _outbox.c.kind == MailKind.AGENT_NOTIFICATION,
        _outbox.c.caused_by_message_id.is_not(None),
        _outbox.c.created_at >= bindparam("since"),
    )
)
_LAST_NOTIFIED_MESSAGE = select(func.max(_outbox.c.caused_by_message_id)).where(
    _outbox.c.ticket_id == bindparam("ticket_id"),
    _outbox.c.rcpt_to == bindparam("address"),
    _outbox.c.kind == MailKind.AGENT_NOTIFICATION,
)


def enqueue(
    *,
    session: Session,
    mail: Message,
    sign: Callable[[bytes], bytes],
    dedupe_key: str,
    kind: str,
    ticket_id: int | None,
    now: datetime,
    is_automatic: bool = True,
    caused_by_message_id: int | None = None,
    not_before: datetime | None = None,
) -> int:
    """Add a mail to the outbox once, signed by `sign`, due at `not_before` (else now); return its row id.

    A second call with the same key writes nothing and returns the first row's id.
    """
    recipients = [
        address for _, address in getaddresses([str(v) for v in mail.get_all("To", []) + mail.get_all("Cc", [])])
    ]
    mail_from = parseaddr(str(mail["From"]))[1]
    # Chosen now and kept on the row: a Contact's mail goes through its relay even if it is edited before sending.
    smtp_profile = run(session, _PROFILE_OF_SENDER, {"address": mail_from.lower()}).scalar()
    # Written at once (the ticket and the message it answers are in the database already), unless the key is taken.
    written = insert_values_unless_taken(
        session,
        _outbox,
        {
            "dedupe_key": dedupe_key,
            "ticket_id": ticket_id,
            "kind": kind,
            "message_id": str(mail["Message-ID"]),
            "mail_from": mail_from,
            "rcpt_to": ",".join(recipients),
            "subject": str(make_header(decode_header(str(mail["Subject"] or "")))),
            # DKIM-signed once, here: delivery sends these bytes unchanged, so a resend is byte for byte the same.
            "raw": sign(mail_bytes(mail)),
            "is_automatic": is_automatic,
            "caused_by_message_id": caused_by_message_id,
            "status": OutboxStatus.QUEUED,
            "attempts": 0,
            "next_attempt_at": not_before or now,
            "last_attempt_at": None,
            "last_error": "",
            "created_at": now,
            "sent_at": None,
            "smtp_profile": smtp_profile,
            "priority": int(mail_priority(kind)),
        },
        "dedupe_key",
    )
    if written is not None:
        return written
    return run(session, _ID_BY_DEDUPE_KEY, {"key": dedupe_key}).scalar_one()


def is_queued(*, session: Session, dedupe_key: str) -> bool:
    """Tell whether a mail with this dedupe key was queued already (then `enqueue` would write nothing)."""
    return run(session, _ID_BY_DEDUPE_KEY, {"key": dedupe_key}).first() is not None


def count_agent_notifications(*, session: Session, ticket_id: int, address: str, since: datetime) -> int:
    """Count the notifications of customer messages queued to `address` about a ticket since `since`."""
    params = {"ticket_id": ticket_id, "address": address, "since": since}
    return run(session, _NOTIFICATIONS_SINCE, params).scalar_one()


def last_notified_message(*, session: Session, ticket_id: int, address: str) -> int | None:
    """The row id of the newest message of a ticket that `address` was notified of, or None."""
    return run(session, _LAST_NOTIFIED_MESSAGE, {"ticket_id": ticket_id, "address": address}).scalar_one_or_none()


def gather_auto_history(*, session: Session, address: str, ticket_id: int | None, now: datetime) -> AutoMailHistory:
    """Count recent automatic mail to an address and a ticket, and find any suppression."""
    to_address, to_ticket, until, reason = session.execute(
        _AUTO_HISTORY,
        {
            "address": address,
            "ticket_id": ticket_id,
            "day_start": now - timedelta(days=1),
            "burst_start": now - BURST_WINDOW,
        },
    ).one()
    return AutoMailHistory(
        sent_to_address_last_day=to_address,
        sent_to_ticket_in_burst_window=to_ticket if ticket_id is not None else 0,
        suppressed_until=utc(until) if until is not None else None,
        suppression_reason=reason or "",
        blocked_by=find_block(session, address),
    )


def check_auto_mail(
    *, session: Session, address: str, ticket_id: int | None, now: datetime, limits: AutoMailLimits
) -> AutoMailDecision:
    """Decide whether an automatic mail to `address` may be queued now."""
    history = gather_auto_history(session=session, address=address, ticket_id=ticket_id, now=now)
    return decide_auto_mail(history, limits, now)


def suppress(*, session: Session, address: str, reason: str, until: datetime, now: datetime) -> bool:
    """Stop automatic mail to an address until `until` (a later date wins); True when a new episode starts."""
    row = session.exec(select(AddressSuppression).where(AddressSuppression.address == address)).first()
    if row is None:
        # Another worker may start the same episode at this moment (a flood written to two mailboxes, two daemons):
        # the first insert wins, the other waits for it to commit and then updates that row, with no rollback.
        if insert_unless_taken(
            session, AddressSuppression(address=address, reason=reason, until=until, created_at=now), "address"
        ):
            return True
        row = session.exec(select(AddressSuppression).where(AddressSuppression.address == address)).one()
    current = utc(row.until)
    assert current is not None, "AddressSuppression.until is NOT NULL"
    started = current <= now
    if current < until:
        row.until, row.reason = until, reason
    if started:
        row.created_at = now
    return started


def apply_bounce(*, session: Session, report: BounceReport, now: datetime) -> OutboxMail | None:
    """Mark the outbox row a bounce answers and stop automatic mail to addresses that failed for good."""
    for address in report.permanent:
        suppress(session=session, address=address, reason="bounced", until=now + BOUNCE_HOLD, now=now)
    if not report.original_message_ids:
        return None
    row = session.exec(select(OutboxMail).where(col(OutboxMail.message_id).in_(report.original_message_ids))).first()
    if row is not None and report.permanent:
        failed = ", ".join(sorted(report.permanent))
        if main_recipient_failed(row.rcpt_to, report.permanent):
            row.status, row.last_error = OutboxStatus.BOUNCED, "bounced: " + failed
        else:  # only people in Cc: the customer got it; they are left out of the next answers (suppressed above)
            row.last_error = f"bounced in Cc: {failed}"
    return row


# The order of claims: the most urgent kind first, then the longest due. `ix_outboxmail_claim` (status, then this
# order) lets a claim walk the rows of one status in order and stop at the few due ones it takes (stepping over rows
# of a more urgent kind that wait for a retry, and other relays' mail), not sort a backlog of thousands.
_CLAIM_ORDER = (col(OutboxMail.priority), col(OutboxMail.next_attempt_at), col(OutboxMail.id))


def claim_due(
    *,
    session: Session,
    now: datetime,
    limit: int = CLAIM_BATCH,
    profile: str | None = None,
    profiles: tuple[str, ...] = (),
    claimer: str | None = None,
) -> list[OutboxMail]:
    """Take due mails, most urgent first, and record an attempt on each; the caller commits before sending.

    `claimer`: the daemon's instance, kept on the rows, so that its claims are freed at once if it dies
    (`free_claims_of`); None (`run --once`, the CLI): they wait out SENDING_LEASE.
    Mail a sender left `sending` past its lease (it died) comes first: it was due before anything queued now.
    `profile`: only the mails of that `[smtp.NAME]`; None: those of [smtp], which with `profiles` (the configured
    names) are also the mails of a profile no longer configured, so that none waits for ever.
    """
    if profile is not None:
        of_profile = col(OutboxMail.smtp_profile) == profile
    elif profiles:
        of_profile = or_(col(OutboxMail.smtp_profile).is_(None), col(OutboxMail.smtp_profile).not_in(profiles))
    else:
        of_profile = true()
    rows: list[OutboxMail] = []
    for due in (
        (col(OutboxMail.status) == OutboxStatus.SENDING) & (col(OutboxMail.last_attempt_at) <= now - SENDING_LEASE),
        (col(OutboxMail.status) == OutboxStatus.QUEUED) & (col(OutboxMail.next_attempt_at) <= now),
    ):
        if len(rows) < limit:
            query = select(OutboxMail).where(due, of_profile).order_by(*_CLAIM_ORDER).limit(limit - len(rows))
            rows += session.exec(query.with_for_update(skip_locked=True))
    for row in rows:
        row.status = OutboxStatus.SENDING
        row.attempts += 1
        row.last_attempt_at = now
        row.claimed_by = claimer
    session.flush()
    return rows


def free_claims_of(*, session: Session, instances: list[str]) -> int:
    """Put the mail these daemons, known to be dead, left `sending` back in the queue; return how many.

    Due at once: a claimed mail was due when it was claimed, and its due time is kept (no clock needs to agree with
    the claimer's). Resent with the same bytes and Message-ID (a mail whose delivery the dead one had begun may reach
    its recipient twice: the one repeat delivery at least once allows)."""
    if not instances:
        return 0
    return run(
        session,
        update(_outbox)
        .where(_outbox.c.status == OutboxStatus.SENDING, _outbox.c.claimed_by.in_(instances))
        .values(status=OutboxStatus.QUEUED),
    ).rowcount


def expire_claims(*, session: Session, now: datetime) -> int:
    """Make every mail left `sending` claimable now, as if its lease had run out; return how many.

    Only for a caller that knows no other sender runs (the daemon holding the SQLite file's lock): the claims are
    then a dead process's, and waiting out SENDING_LEASE would only delay their identical resend.
    """
    expired = now - SENDING_LEASE
    return run(
        session,
        update(_outbox)
        .where(_outbox.c.status == OutboxStatus.SENDING, _outbox.c.last_attempt_at > expired)
        .values(last_attempt_at=expired),
    ).rowcount


def renew_lease(*, session: Session, outbox_ids: list[int], now: datetime) -> None:
    """Extend the lease of claimed mails still to be sent, so no other sender takes them up meanwhile."""
    if outbox_ids:
        session.execute(
            update(_outbox)
            .where(_outbox.c.id.in_(outbox_ids), _outbox.c.status == OutboxStatus.SENDING)
            .values(last_attempt_at=now)
        )


# One statement per sent mail, without loading the row (its bytes included) first.
_MARK_SENT = (
    update(_outbox)
    .where(_outbox.c.id == bindparam("outbox_id"))
    .values(status=OutboxStatus.SENT, sent_at=bindparam("sent_now"), last_error="")
)


def record_sent(*, session: Session, outbox_id: int, now: datetime) -> None:
    """Mark a mail delivered."""
    marked = run(session, _MARK_SENT, {"outbox_id": outbox_id, "sent_now": now}).rowcount
    assert marked == 1, f"outbox row {outbox_id} is gone"


def _claimed(session: Session, outbox_id: int) -> OutboxMail:
    """The row of a mail claim_due handed out; outbox rows are never deleted, so it is there."""
    # Locked: an `outbox cancel` committed meanwhile is seen, never overwritten.
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    assert row is not None, f"outbox row {outbox_id} is gone"
    return row


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 1, 2, 4 ... minutes, capped at two hours."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


def record_failure(
    *,
    session: Session,
    outbox_id: int,
    now: datetime,
    error: str,
    permanent: bool,
    retry_for: timedelta,
    attempt: int | None = None,
) -> OutboxMail | None:
    """Record a failed attempt: retry later, or hold it when permanent or out of time.

    `attempt`: the row's attempts when this sender claimed it; None (the row is no longer this claim: another sender
    took it up after this one hung past the lease) records nothing, so a dead connection's error never overwrites
    what the other sender did."""
    row = _claimed(session, outbox_id)
    if row.status == OutboxStatus.CANCELLED:
        return row  # an admin gave it up while it was being sent: it stays given up
    if attempt is not None and (row.status != OutboxStatus.SENDING or row.attempts != attempt):
        return None
    row.last_error = error[:500]
    created_at = utc(row.created_at)
    assert created_at is not None, "OutboxMail.created_at is NOT NULL"
    out_of_time = now - created_at >= retry_for
    if permanent or out_of_time:
        row.status = OutboxStatus.HELD
    else:
        row.status = OutboxStatus.QUEUED
        row.next_attempt_at = now + retry_delay(row.attempts)
    return row


def requeue(*, session: Session, outbox_id: int, now: datetime, resend: bool = False) -> OutboxMail | None:
    """Put a held, queued or cancelled mail back in line for an attempt now (`resend`: a sent or bounced one too).

    Raises: CommandError for an agent's answer taken back in its undo window, mail being sent, or mail sent
    already without `resend` (`parked_mail.retry_refusal`).
    """
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    if row is None:
        return None
    held_state = session.exec(select(HeldAnswer.state).where(HeldAnswer.outbox_id == outbox_id)).first()
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
    refusal = retry_refusal(
        outbox_id,
        taken_back=held_state == HeldState.CANCELLED,
        ticket_number=ticket.number if ticket is not None else None,
        status=row.status,
        resend=resend,
    )
    if refusal:
        raise CommandError(refusal)
    row.status, row.next_attempt_at, row.created_at = OutboxStatus.QUEUED, now, now
    row.priority = int(mail_priority(row.kind))  # migration 0027 set it on unsent mail only
    return row


def cancel(*, session: Session, outbox_id: int, actor: str, now: datetime) -> str:
    """Give an unsent mail up for good, noting who and when; return the status it had.

    A sender holding it (`sending`) checks again right before it sends.

    Raises: NotFoundError for an unknown id; CommandError for mail that is sent, bounced or cancelled already.
    """
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    if row is None:
        raise NotFoundError(f"no outbox item with id {outbox_id}")
    if refusal := cancel_refusal(outbox_id, row.status):
        raise CommandError(refusal)
    was = row.status
    row.status, row.last_error = OutboxStatus.CANCELLED, cancelled_error(row.last_error, actor, now)
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
    if ticket is not None:
        record_event(
            session=session,
            ticket=ticket,
            actor=actor,
            kind=EventKind.MAIL_CANCELLED,
            reason=f"outbox {outbox_id} {row.kind} to {row.rcpt_to} cancelled ({was})"[:500],
            now=now,
        )
    return was


def why_not_send(*, connection: Connection, outbox_id: int, attempt: int) -> str | None:
    """Why a sender holding the claim of `attempt` (the row's attempts when it claimed it) must not send the mail
    now, or None: an admin gave it up (`cancel`), or it is no longer this claim (the sender hung past its lease and
    another took the mail up, sent it or failed it meanwhile). A plain connection will do."""
    status, attempts = connection.execute(_CLAIM_OF, {"outbox_id": outbox_id}).one()
    if status == OutboxStatus.CANCELLED:
        return "cancelled"
    if status != OutboxStatus.SENDING or attempts != attempt:
        return f"taken up by another sender (now {status}, attempt {attempts})"
    return None
