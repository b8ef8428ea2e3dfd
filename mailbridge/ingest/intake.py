"""Stage: the commit point. RawMail -> stored message, ticket change and queued mails, in one commit.

Called through `ingest.guard` for every fetched message (the poller's batches, `mailbridge ingest`), which
owns the transaction and the failure handling. The server-side mark happens only after the commit; a
message already committed is recognised by its unique key.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, insert, literal, union_all
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailbridge.base.config.settings import DEFAULT_MAX_MESSAGE_BYTES
from mailbridge.decisions.expectation import receipt_expectation
from mailbridge.decisions.history import answered_customer
from mailbridge.decisions.inbound.bounces import main_recipient_failed, read_bounce
from mailbridge.decisions.inbound.classify import classify, may_auto_reply
from mailbridge.decisions.inbound.language import choose_locale, guess_locale
from mailbridge.decisions.inbound.names import name_is_authenticated
from mailbridge.decisions.inbound.parse import ParsedMessage, ParseLimits, is_malformed, limit_exceeded, parse_message
from mailbridge.decisions.inbound.reply_text import new_text
from mailbridge.decisions.inbound.spam_verdict import (
    NOT_SPAM,
    SpamVerdict,
    judge_spam,
    plan_spam_message,
    read_spam_signals,
)
from mailbridge.decisions.kinds import (
    Direction,
    EventKind,
    MailKind,
    MatchReason,
    MessageKind,
    OutboxStatus,
    TicketStatus,
)
from mailbridge.decisions.lifecycle import Transition, plan_automatic_message, plan_customer_message
from mailbridge.decisions.loop_guard import FLOOD_HOLD, FLOOD_WINDOW, is_flooding
from mailbridge.decisions.matching.order_numbers import extract_order_number
from mailbridge.decisions.matching.routing import route_category
from mailbridge.decisions.matching.ticket_match import (
    StoredCopy,
    TicketMatch,
    copy_in_contact,
    match_ticket,
    normalise_subject,
    place_copy,
)
from mailbridge.decisions.matching.topics import is_presale, topic_category
from mailbridge.decisions.outgoing.compose import compose_admin_notice
from mailbridge.decisions.outgoing.context import MailContext
from mailbridge.decisions.outgoing.drafts import draft_for
from mailbridge.decisions.outgoing.forward import compose_forward
from mailbridge.decisions.own_addresses import addressed_contact
from mailbridge.ingest import agent_intake, history_intake, survey_intake
from mailbridge.ingest.after_sync import is_unknown_mail
from mailbridge.ingest.prepare import OverBudget, Prepared, prepare_mail, raw_digest
from mailbridge.ingest.sources.imap import RawMail
from mailbridge.service import agent_mail, failed_mail
from mailbridge.service.customer_mail import customer_thread, queue_customer_mail
from mailbridge.store import blocklist, db, outbox_queue, participants, shop_cache, thread_links, tickets
from mailbridge.store.models import Attachment, Contact, Customer, Message, Ticket
from mailbridge.store.ratings import find_survey_answer
from mailbridge.store.raw_files import RawStore, raw_columns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbox:
    """What intake needs besides the message: the database, who we are, and the mailbox's own settings.

    Built by the runtime once per mailbox (`runtime.app.inbox_for`), so intake never looks a mailbox up by name.
    """

    engine: Engine
    mail: MailContext
    contact_id: int  # the Contact this mailbox files into (its home)
    # Address -> id of the Contacts that keep their mail and whose address this mailbox receives: a message
    # written to another of them, not to home's, is filed there (one folder, two departments). Empty: always home.
    contact_by_address: Mapping[str, int] = field(default_factory=dict)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    creates_tickets: bool = True  # [[mailboxes]] create_tickets_for_unknown
    raw_store: RawStore | None = None  # raw mail over its threshold is kept as a file (None: always a blob)
    parse_limits: ParseLimits = ParseLimits()  # a message over one is stored raw and quarantined
    # False (`mailbridge ingest PATH`, an archive): agents', outsiders' and survey answers are stored and recorded
    # but cause no mail, whatever `silent` says: they may have been relayed long ago, or be too old to judge.
    relays_answers: bool = True
    # True (`ingest PATH`, `mailboxes import`: an archive): mail From one of our addresses to a customer is an
    # agent's answer sent long ago (`history_intake`), not our own mail coming back.
    imports_history: bool = False
    # Set by the daemon: checks, in the transaction about to commit, that this daemon still holds the mailbox's
    # lease; raises LeaseLost otherwise (the transaction rolls back, nothing is marked on the server).
    fence: Callable[[Session], None] | None = None


@dataclass(frozen=True)
class IntakeResult:
    message_row_id: int | None  # None when unknown mail was left on the server
    ticket_number: str | None
    is_new_ticket: bool
    already_stored: bool
    is_unknown: bool = False  # matched no ticket and create_tickets_for_unknown is off: nothing written
    is_flagged: bool = False  # stored but malformed, too large or quarantined
    is_answer: bool = False  # an archived answer of ours, stored on its customer's ticket (history import)


def accept(
    inbox: Inbox, mail: RawMail, now: datetime, *, silent: bool = False, parsed: Prepared = None
) -> IntakeResult:
    """Store one message with everything it causes, in one transaction; idempotent.

    `silent`: store it and record its events, but queue no mail at all (receipt, agent notification, relayed
    answer, notice, survey thanks, forward): a file import, or mail already in a folder (initial_sync import-silently).
    `parsed` is the message as `prepare_mail` returned it (a worker process may have done that); else it is prepared here.
    OverBudget (its parse outran the time budget in the worker): it is stored raw and quarantined.
    """
    with db.transaction(inbox.engine) as session:
        result = accept_in(inbox, session, mail, now, silent=silent, parsed=parsed)
        if inbox.fence is not None:
            inbox.fence(session)
        return result


def accept_in(
    inbox: Inbox, session: Session, mail: RawMail, now: datetime, *, silent: bool, parsed: Prepared = None
) -> IntakeResult:
    """Store one message inside the caller's transaction (accept, and guard's batches and retries)."""
    prepared = parsed if isinstance(parsed, ParsedMessage) else None
    digest = (prepared and prepared.raw_sha256) or raw_digest(mail.raw)
    stored = _already_stored(session, mail, digest)
    if stored is not None:
        return IntakeResult(stored.id, _number(session, stored.ticket_id), False, True, is_flagged=stored.is_malformed)
    limit = inbox.max_message_bytes
    if mail.server_size is not None or len(mail.raw) > limit:
        return _store_too_large(inbox, session, mail, limit, now)
    if isinstance(parsed, OverBudget):
        return store_quarantined(session, mail, now, parsed.reason, files=inbox.raw_store)
    parsed = prepared or prepare_mail(mail.raw, digest=digest, limits=inbox.parse_limits)
    over_limit = limit_exceeded(parsed, inbox.parse_limits)
    if over_limit is not None:
        return store_quarantined(session, mail, now, over_limit, files=inbox.raw_store)
    kind = classify(parsed, inbox.mail.own_addresses, inbox.mail.is_own_message_id)
    department = _department(inbox, session, parsed, kind)
    copies = tickets.find_copies(session=session, parsed=parsed)
    twin = copy_in_contact(copies, department.id)
    if twin is not None:
        # Only the key or the same bytes mean "already stored" (checked above): a twin is stored, on its
        # twin's ticket. Checked before routing so agent replies and survey answers count once too.
        return _accept_twin(inbox, session, mail, parsed, kind, department, twin, now, silent=silent)
    routed = _accept_routed(inbox, session, mail, parsed, kind, department, now, silent=silent)
    if routed is not None:
        return routed
    return _accept_threaded(inbox, session, mail, parsed, kind, department, copies, now, silent=silent)


def _accept_twin(
    inbox: Inbox,
    session: Session,
    mail: RawMail,
    parsed: ParsedMessage,
    kind: MessageKind,
    department: Contact,
    twin: StoredCopy,
    now: datetime,
    *,
    silent: bool,
) -> IntakeResult:
    """Store mail with the Message-ID, sender, subject and text of a message this Contact has, on its ticket.

    A copy (the same attachments: the mail reached this Contact twice, by a second folder or mailbox) causes
    nothing again: no receipt, notice, relay or rating. Customer mail with other attachments (a sender that
    reuses its Message-IDs) is a message of its own on that ticket, with the agents told of it.
    """
    twin_kind, twin_files = tickets.twin_facts(session=session, message_row_id=twin.message_row_id)
    # A Contact that keeps no attachments has none to compare: its twins count as copies (both raw are kept).
    is_other_mail = (
        kind is MessageKind.CUSTOMER
        and twin_kind == MessageKind.CUSTOMER
        and department.accept_attachments
        and _attachment_digests(parsed) != twin_files
    )
    if is_other_mail:
        match = TicketMatch(twin.ticket_id, MatchReason.TWIN)
        return _file_in_ticket(inbox, session, mail, parsed, kind, department, match, now, silent=silent)
    row = _store(
        session,
        mail,
        parsed,
        twin.ticket_id,
        twin_kind,
        MatchReason.TWIN,
        now,
        files=inbox.raw_store,
        keep_attachments=department.accept_attachments,
    )
    log.info(
        "copy stored mailbox=%s uid=%s message_id=%s twin=%s",
        mail.mailbox,
        mail.uid,
        parsed.message_id,
        twin.message_row_id,
    )
    return IntakeResult(row.id, _number(session, twin.ticket_id), False, False, is_flagged=row.is_malformed)


def _attachment_digests(parsed: ParsedMessage) -> tuple[str, ...]:
    return tuple(sorted(part.sha256 or hashlib.sha256(part.payload).hexdigest() for part in parsed.attachments))


def _open_ticket(
    inbox: Inbox,
    session: Session,
    parsed: ParsedMessage,
    department: Contact,
    customer: Customer,
    match: TicketMatch,
    order_number: str | None,
    now: datetime,
) -> Ticket:
    """Open the ticket of a new message: the customer's chosen topic, else routing, gives its category."""
    # A ticket a history import opens is an old conversation, not a prospect writing now: never pre-sale.
    presale = (
        inbox.mail.support.presale_flag
        and not inbox.imports_history
        and is_presale(
            enabled=True,
            has_earlier_ticket=tickets.has_tickets(session=session, customer=customer),
            order_number=order_number,
        )
    )
    category = topic_category(parsed, inbox.mail.topics, inbox.mail.own_addresses)
    return tickets.open_ticket(
        session=session,
        contact_id=department.id,
        customer=customer,
        subject=parsed.subject,
        now=now,
        subject_key=normalise_subject(parsed.subject, inbox.mail.subject_pattern),
        category=category or route_category(parsed, inbox.mail.routing),
        linked_ticket_id=match.linked_ticket_id,
        presale=presale,
    )


def _accept_routed(
    inbox: Inbox,
    session: Session,
    mail: RawMail,
    parsed: ParsedMessage,
    kind: MessageKind,
    department: Contact,
    now: datetime,
    *,
    silent: bool,
) -> IntakeResult | None:
    """Handle mail that does not thread like customer mail; None: it is ordinary mail."""
    if kind is MessageKind.ECHO and inbox.imports_history:
        answered = _accept_our_answer(inbox, session, mail, parsed, department, now)
        if answered is not None:
            return answered
    if kind is MessageKind.CUSTOMER:
        quiet = silent or not inbox.relays_answers
        answered = None
        if inbox.mail.secret:
            answered = _accept_agent_address_mail(inbox, session, mail, parsed, now, silent=quiet)
        answered = answered or _accept_survey_answer(inbox, session, mail, parsed, now, silent=quiet)
        if answered is not None:
            return answered
    if not department.save_messages:
        return _forward_unsaved(inbox, session, mail, parsed, kind, department, now, silent=silent)
    # A `#requester` forward counts only at an agent's signed reply address (_accept_agent_address_mail):
    # sent here, with nothing but a From to vouch for the agent, it is ordinary customer mail (issue 16).
    return None


def _accept_threaded(
    inbox: Inbox,
    session: Session,
    mail: RawMail,
    parsed: ParsedMessage,
    kind: MessageKind,
    department: Contact,
    copies: tuple[StoredCopy, ...],
    now: datetime,
    *,
    silent: bool,
) -> IntakeResult:
    """Thread a message to its ticket (or a new one) and store it with the mails it causes."""
    support = inbox.mail.support
    evidence = tickets.gather_thread_evidence(
        session=session,
        parsed=parsed,
        pattern=inbox.mail.subject_pattern,
        now=now,
        secret=support.secret,
        support_addresses=inbox.mail.own_addresses,
        contact_id=department.id,
        reopen_window_days=support.reopen_window_days,
        previous_secrets=support.previous_secrets,
    )
    match = match_ticket(parsed, evidence)
    matched = session.get(Ticket, match.ticket_id) if match.ticket_id else None
    match = place_copy(match, copies, department.id, matched.contact_id if matched else None)
    if is_unknown_mail(match.ticket_id, inbox.creates_tickets):
        log.info(
            "unknown mail left on the server mailbox=%s uid=%s message_id=%s", mail.mailbox, mail.uid, parsed.message_id
        )
        return IntakeResult(None, None, False, False, is_unknown=True)
    if kind is MessageKind.BOUNCE:
        return _accept_bounce(inbox.mail, session, mail, parsed, match, now, files=inbox.raw_store, silent=silent)
    if match.ticket_id is None and kind is MessageKind.ECHO:
        # Our own mail coming back that answers no ticket is kept, but opens nothing.
        row = _store(session, mail, parsed, None, kind, match.reason, now, files=inbox.raw_store)
        return IntakeResult(row.id, None, False, False)
    # A copy of customer mail the ticket holds (a list's, under its own subject tag) is stored on it, but its
    # receipt and the agents' notice went out with the first copy.
    silent = silent or match.is_repeat
    return _file_in_ticket(inbox, session, mail, parsed, kind, department, match, now, silent=silent)


def _file_in_ticket(
    inbox: Inbox,
    session: Session,
    mail: RawMail,
    parsed: ParsedMessage,
    kind: MessageKind,
    department: Contact,
    match: TicketMatch,
    now: datetime,
    *,
    silent: bool,
) -> IntakeResult:
    """Store a customer or automatic message on its ticket, apply its transition and queue its mails."""
    ticket = session.get(Ticket, match.ticket_id) if match.ticket_id else None
    status = TicketStatus(ticket.status) if ticket else None
    # Spam (our receiving server's verdict, DMARC, the blocklist) is stored but causes no mail: no backscatter.
    spam = _spam_verdict(inbox, session, mail, parsed) if kind is MessageKind.CUSTOMER else NOT_SPAM
    if spam.is_spam:
        transition = plan_spam_message(status, spam)
    elif kind is MessageKind.CUSTOMER:
        transition = plan_customer_message(status, may_auto_reply=may_auto_reply(kind, parsed), silent=silent)
    else:
        transition = plan_automatic_message(status)
    guessed = None
    if transition.mails:
        guessed = guess_locale(parsed.text_body, parsed.headers.get("content-language"), None)
    # A new customer who will be written to is created with the locale of that mail (no UPDATE right after).
    first_locale = _mail_locale(inbox, department, None, guessed) if transition.mails else None
    # Anyone can write this From: only a person's mail our receiving server authenticated changes a kept name.
    authenticated = kind is MessageKind.CUSTOMER and name_is_authenticated(
        mail.raw, parsed.from_addr, inbox.mail.support.authserv_id
    )
    customer = tickets.ensure_customer(
        session=session,
        email=parsed.from_addr,
        name=parsed.from_name,
        now=now,
        locale=first_locale,
        name_is_authenticated=authenticated,
    )
    order_number = extract_order_number(
        parsed.subject, parsed.text_body, re.compile(inbox.mail.support.order_number_regex)
    )
    if ticket is None:
        ticket = _open_ticket(inbox, session, parsed, department, customer, match, order_number, now)
    row = _store(
        session,
        mail,
        parsed,
        ticket.id,
        kind,
        match.reason,
        now,
        files=inbox.raw_store,
        keep_attachments=department.accept_attachments,
        order_number=order_number,
    )
    tickets.apply(session=session, ticket=ticket, transition=transition, actor=f"customer:{customer.email}", now=now)
    if kind is MessageKind.CUSTOMER and not spam.is_spam:
        # Reply-all: whom the customer's side also wrote to gets the answers in Cc (decisions.participants).
        participants.add_from_mail(session=session, ticket=ticket, parsed=parsed, own=inbox.mail.own_addresses, now=now)
    # Counted before any mail is queued: a flood stops the receipt and the agents' notifications alike.
    flooding = (
        kind is MessageKind.CUSTOMER
        and not (silent or spam.is_spam)
        and _watch_for_flood(inbox, session, customer.email, ticket.contact_id, now)
    )
    _enqueue_mails(
        inbox, session, ticket, customer, parsed, row, transition, guessed, now, is_new=match.ticket_id is None
    )
    if spam.is_spam:
        _record_spam(session, ticket, spam, now, mail, parsed)
    elif kind is MessageKind.CUSTOMER and not silent and ticket.status != TicketStatus.SPAM:
        # A ticket an agent marked spam is stored to, but tells no one (`#open` brings it back).
        headline = "new_ticket" if match.ticket_id is None else "new_message"
        if not flooding and shop_cache.should_wait(session, inbox.mail.shop, customer.email, now):
            # Intake never calls the shop: the shop job looks the customer up and sends this notification then.
            shop_cache.wait_for_lookup(
                session=session,
                message_id=row.id,
                ticket_id=ticket.id,
                email=customer.email,
                headline=headline,
                now=now,
            )
        else:
            agent_mail.notify_agents(
                inbox.mail,
                session=session,
                ticket=ticket,
                message=row,
                now=now,
                headline=headline,
                sender_is_flooding=flooding,
            )
    log.info(
        "stored mailbox=%s uid=%s message_id=%s ticket=%s reason=%s kind=%s",
        mail.mailbox,
        mail.uid,
        parsed.message_id,
        ticket.number,
        match.reason,
        kind,
    )
    return IntakeResult(row.id, ticket.number, match.ticket_id is None, False, is_flagged=row.is_malformed)


def _accept_agent_address_mail(
    inbox: Inbox, session: Session, mail: RawMail, parsed: ParsedMessage, now: datetime, *, silent: bool
) -> IntakeResult | None:
    """Store mail sent to an agent or outsider reply address, then relay or refuse it; None: not such mail."""
    route = agent_intake.find_route(parsed, inbox.mail.own_addresses)
    if route is None:
        return None
    row = _store(
        session, mail, parsed, None, MessageKind.AGENT_REPLY_IN, MatchReason.REPLY_TOKEN, now, files=inbox.raw_store
    )
    ticket = agent_intake.handle(
        inbox.mail, session=session, row=row, parsed=parsed, route=route, now=now, silent=silent
    )
    # An accepted `#requester` forward turned the row into the new ticket's customer message.
    is_new = row.kind == MessageKind.CUSTOMER
    return IntakeResult(
        row.id, ticket.number if ticket else None, is_new, False, is_flagged=row.kind == MessageKind.FORGED_AGENT_REPLY
    )


def _accept_our_answer(
    inbox: Inbox, session: Session, mail: RawMail, parsed: ParsedMessage, department: Contact, now: datetime
) -> IntakeResult | None:
    """Store an archived answer of ours on its customer's ticket, never relayed; None: it was written to no customer."""
    customer = answered_customer(parsed, inbox.mail.own_addresses)
    if customer is None:
        return None
    ticket, match = history_intake.find_ticket(
        inbox.mail, session=session, parsed=parsed, customer=customer, contact_id=department.id, now=now
    )
    row = _store(
        session,
        mail,
        parsed,
        ticket.id,
        MessageKind.AGENT_REPLY,
        match.reason,
        now,
        files=inbox.raw_store,
        direction=Direction.OUTBOUND,
    )
    history_intake.record_answer(session=session, ticket=ticket, parsed=parsed, customer=customer, now=now)
    log.info(
        "archived answer stored mailbox=%s uid=%s message_id=%s ticket=%s reason=%s",
        mail.mailbox,
        mail.uid,
        parsed.message_id,
        ticket.number,
        match.reason,
    )
    return IntakeResult(
        row.id, ticket.number, match.ticket_id is None, False, is_flagged=row.is_malformed, is_answer=True
    )


def _accept_survey_answer(
    inbox: Inbox, session: Session, mail: RawMail, parsed: ParsedMessage, now: datetime, *, silent: bool
) -> IntakeResult | None:
    """Store a survey answer on its ticket and record its rating; never reopen, never a receipt. None: no answer."""
    answer = find_survey_answer(
        session=session,
        parsed=parsed,
        secret=inbox.mail.secret,
        window_days=inbox.mail.survey.window_days,
        now=now,
        previous_secrets=inbox.mail.previous_secrets,
    )
    if answer is None:
        return None
    row = _store(
        session,
        mail,
        parsed,
        answer.ticket_id,
        survey_intake.stored_kind(answer),
        survey_intake.match_reason(answer),
        now,
        files=inbox.raw_store,
    )
    ticket = survey_intake.handle(
        inbox.mail, session=session, row=row, parsed=parsed, answer=answer, now=now, silent=silent
    )
    return IntakeResult(row.id, ticket.number if ticket else None, False, False)


def _accept_bounce(
    ctx: MailContext,
    session: Session,
    mail: RawMail,
    parsed: ParsedMessage,
    match: TicketMatch,
    now: datetime,
    *,
    files: RawStore | None,
    silent: bool,
) -> IntakeResult:
    """Store a bounce on the ticket of the mail it answers, mark that mail bounced; never open a ticket."""
    report = read_bounce(mail.raw)
    bounced = outbox_queue.apply_bounce(session=session, report=report, now=now)
    ticket_id = match.ticket_id or (bounced.ticket_id if bounced else None)
    row = _store(session, mail, parsed, ticket_id, MessageKind.BOUNCE, match.reason, now, files=files)
    ticket = session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is not None:
        failed = ", ".join(sorted(report.permanent)) or "unknown recipient"
        outcome = f"delivery to {failed} failed"
        if bounced is not None and report.permanent and not main_recipient_failed(bounced.rcpt_to, report.permanent):
            outcome = f"delivery to {failed} in Cc failed; {bounced.rcpt_to.split(',')[0].strip()} was not affected"
        if report.temporary and not report.permanent:
            outcome = f"delivery to {', '.join(sorted(report.temporary))} delayed"
        tickets.record_event(
            session=session,
            ticket=ticket,
            actor="system",
            kind=EventKind.MAIL_BOUNCED,
            now=now,
            reason=f"outbox {bounced.id if bounced else '?'}: {outcome}",
        )
    if bounced is not None and bounced.status == OutboxStatus.BOUNCED and not silent:
        failed_mail.tell_author(ctx, session=session, row=bounced, now=now)
    log.warning(
        "bounce mailbox=%s uid=%s permanent=%s outbox_id=%s",
        mail.mailbox,
        mail.uid,
        sorted(report.permanent),
        bounced.id if bounced else None,
    )
    return IntakeResult(row.id, ticket.number if ticket else None, False, False)


def _forward_unsaved(
    inbox: Inbox,
    session: Session,
    mail: RawMail,
    parsed: ParsedMessage,
    kind: MessageKind,
    contact: Contact,
    now: datetime,
    *,
    silent: bool,
) -> IntakeResult:
    """Forward a message of a Contact that saves none to its address, in this transaction; store nothing."""
    if kind in (MessageKind.ECHO, MessageKind.BOUNCE):
        # Our own forward coming back (the Contact's address is often the mailbox itself): never forward again.
        log.info(
            "not forwarded kind=%s mailbox=%s uid=%s message_id=%s", kind, mail.mailbox, mail.uid, parsed.message_id
        )
        return IntakeResult(None, None, False, False)
    if silent:
        # Silent sends nothing, a forward included, and this Contact keeps nothing: the mail is left where it is
        # (on the server, or in the imported file) and counted as not stored.
        log.warning(
            "silent: not forwarded, not stored contact=%s mailbox=%s uid=%s message_id=%s",
            contact.name,
            mail.mailbox,
            mail.uid,
            parsed.message_id,
        )
        return IntakeResult(None, None, False, False, is_unknown=True)
    support = inbox.mail.support
    forward = compose_forward(
        from_name=support.from_name,
        from_address=support.from_address,
        to_address=contact.email,
        parsed=parsed,
        raw=mail.raw,
        message_id=inbox.mail.new_message_id(support.from_address),
        instance_id=inbox.mail.instance_id,
        now=now,
    )
    # Keyed by the source message: after a crash before the server mark, the next poll queues nothing twice.
    outbox_id = outbox_queue.enqueue(
        session=session,
        mail=forward,
        sign=inbox.mail.sign,
        kind=MailKind.FORWARD_UNSAVED,
        ticket_id=None,
        now=now,
        dedupe_key=f"forward:{mail.mailbox}:{mail.folder}:{mail.uidvalidity}:{mail.uid}",
        is_automatic=False,
    )
    log.info(
        "forwarded, not stored mailbox=%s uid=%s message_id=%s outbox_id=%s",
        mail.mailbox,
        mail.uid,
        parsed.message_id,
        outbox_id,
    )
    return IntakeResult(None, None, False, False)


# Built once and reused for every message (SQLAlchemy caches their compiled form). Core statements on the
# table: they skip the ORM layer and do not autoflush, so each reads only rows that intake has flushed
# already (every Message is flushed as it is stored).
_message = Message.__table__
# One round trip for both guards, the same message by its key or its bytes; two SELECTs joined by UNION ALL,
# not one with OR, so SQLite plans each on its own index. The key wins when both find a row.
_STORED = (
    union_all(
        select(literal(0).label("rank"), _message.c.id, _message.c.ticket_id, _message.c.is_malformed).where(
            _message.c.mailbox == bindparam("mailbox"),
            _message.c.folder == bindparam("folder"),
            _message.c.uidvalidity == bindparam("uidvalidity"),
            _message.c.uid == bindparam("uid"),
        ),
        select(literal(1).label("rank"), _message.c.id, _message.c.ticket_id, _message.c.is_malformed).where(
            _message.c.mailbox == bindparam("mailbox"), _message.c.raw_sha256 == bindparam("digest")
        ),
    )
    .order_by("rank")
    .limit(1)
)
_INSERT_ATTACHMENT = insert(Attachment.__table__)
_RECENT_FROM_SENDER = (
    select(func.count())
    .select_from(_message)
    .where(_message.c.from_addr == bindparam("address"), _message.c.stored_at >= bindparam("since"))
)


def _already_stored(session: Session, mail: RawMail, digest: str):
    """Return (rank, id, ticket_id, is_malformed) of the stored copy of this mail (`digest`: of its raw bytes), or None.

    Found by its key (mailbox, folder, UIDVALIDITY, UID), or else by the same bytes in the same mailbox under
    another UID (a UIDVALIDITY reset).
    """
    return db.run(
        session,
        _STORED,
        {
            "mailbox": mail.mailbox,
            "folder": mail.folder,
            "uidvalidity": mail.uidvalidity,
            "uid": mail.uid,
            "digest": digest,
        },
    ).first()


def _store(
    session: Session,
    mail: RawMail,
    parsed: ParsedMessage,
    ticket_id: int | None,
    kind: MessageKind | str,
    reason: MatchReason | None,
    now: datetime,
    *,
    files: RawStore | None,
    keep_attachments: bool = True,
    order_number: str | None = None,
    direction: Direction = Direction.INBOUND,
) -> Message:
    digest = parsed.raw_sha256 or raw_digest(mail.raw)
    # A file, if any, is written before the commit: named by its content, a retried commit finds it in place.
    kept = raw_columns(files, mail.raw, digest)
    row = Message(
        ticket_id=ticket_id,
        direction=direction,
        mailbox=mail.mailbox,
        folder=mail.folder,
        uidvalidity=mail.uidvalidity,
        uid=mail.uid,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=" ".join(parsed.references),
        from_addr=parsed.from_addr,
        from_name=parsed.from_name,
        to_addrs=", ".join(parsed.to_addrs),
        cc_addrs=", ".join(parsed.cc_addrs),
        subject=parsed.subject,
        sent_at=parsed.date,
        text_body=parsed.text_body,
        html_body=parsed.html_body,
        raw=kept.raw,
        raw_path=kept.path,
        stripped_text=new_text(parsed),
        raw_sha256=digest,
        kind=str(kind),
        match_reason=str(reason) if reason else None,
        is_malformed=is_malformed(parsed),
        defects="\n".join(parsed.defects),
        stored_at=now,
        order_number=order_number,
    )
    db.insert_now(session, row)
    assert row.id is not None, "insert_now sets the id"
    thread_links.record(session=session, message_row_id=row.id, parsed=parsed)
    # A Contact that accepts no attachments keeps them only inside `raw`.
    files = [
        {
            "message_id": row.id,
            "filename": part.filename,
            "content_type": part.content_type,
            "size": part.size,
            "sha256": part.sha256 or hashlib.sha256(part.payload).hexdigest(),
            "content": part.payload,
        }
        for part in (parsed.attachments if keep_attachments else ())
    ]
    if files:
        db.run(session, _INSERT_ATTACHMENT, files)
    return row


def _enqueue_mails(
    inbox: Inbox,
    session: Session,
    ticket: Ticket,
    customer: Customer,
    parsed: ParsedMessage,
    row: Message,
    transition: Transition,
    guessed: str | None,
    now: datetime,
    *,
    is_new: bool,
) -> None:
    if not transition.mails:
        return
    contact = _contact(session, ticket.contact_id)
    locale = _mail_locale(inbox, contact, customer.locale, guessed)
    if not customer.locale:
        customer.locale = locale
    # A new ticket's chain is this message alone (draft_for's default): no query for the receipt.
    thread = None if is_new else customer_thread(session, ticket, customer)
    for kind in transition.mails:
        draft = draft_for(
            kind,
            ticket=ticket,
            customer=customer,
            contact=contact,
            parsed=parsed,
            locale=locale,
            support=inbox.mail.support,
            templates=inbox.mail.templates_for(contact),
            instance_id=inbox.mail.instance_id,
            thread=thread,
            # The receipt says by when to expect an answer (the Contact's or [sla]'s first-response hours).
            extra=receipt_expectation(
                now, contact.first_response_hours, inbox.mail.sla.for_contact(contact.name), locale
            )
            if kind is MailKind.RECEIPT
            else None,
        )
        # One receipt per ticket, whatever arrives: the key names the ticket, not the message.
        key = f"{kind}:{ticket.id}" if kind is MailKind.RECEIPT else f"{kind}:{ticket.id}:{row.id}"
        queue_customer_mail(
            inbox.mail,
            session=session,
            ticket=ticket,
            draft=draft,
            dedupe_key=key,
            now=now,
            caused_by_message_id=row.id,
        )


def _mail_locale(inbox: Inbox, contact: Contact, customer_locale: str | None, guessed: str | None) -> str:
    """The locale of automatic mail to this sender: the Contact's, the customer's, the guess from the mail, the default."""
    return choose_locale(contact.locale, customer_locale, guessed, inbox.mail.support.default_locale)


def _spam_verdict(inbox: Inbox, session: Session, mail: RawMail, parsed: ParsedMessage) -> SpamVerdict:
    """Judge a customer message by its spam and authentication headers and the blocklist (spam_verdict)."""
    return judge_spam(
        read_spam_signals(mail.raw),
        sender=parsed.from_addr,
        settings=inbox.mail.spam,
        authserv_id=inbox.mail.support.authserv_id,
        blocked_by=blocklist.find_block(session, parsed.from_addr),
    )


def _record_spam(
    session: Session, ticket: Ticket, spam: SpamVerdict, now: datetime, mail: RawMail, parsed: ParsedMessage
) -> None:
    tickets.record_event(
        session=session,
        ticket=ticket,
        actor="system",
        kind=EventKind.MAIL_SUPPRESSED,
        reason=f"no receipt, no agent notification: {spam.reason}"[:500],
        now=now,
    )
    log.info(
        "spam stored mailbox=%s uid=%s message_id=%s ticket=%s reason=%s",
        mail.mailbox,
        mail.uid,
        parsed.message_id,
        ticket.number,
        spam.reason,
    )


def _watch_for_flood(inbox: Inbox, session: Session, address: str, contact_id: int, now: datetime) -> bool:
    """Tell whether a sender floods us; at the start of a flood stop mail to them and tell the admin and the agents of
    `contact_id` (the Contact the mail was written to, which need not be the mailbox's) once."""
    recent = db.run(session, _RECENT_FROM_SENDER, {"address": address, "since": now - FLOOD_WINDOW}).scalar_one()
    if not is_flooding(recent, inbox.mail.limits):
        return False
    started = outbox_queue.suppress(
        session=session, address=address, reason="flooding", until=now + FLOOD_HOLD, now=now
    )
    log.warning("flood sender=%s messages_in_10_minutes=%s: no automatic mail for 30 minutes", address, recent)
    support = inbox.mail.support
    if started and support.admin_address:
        mail = compose_admin_notice(
            from_name=support.from_name,
            from_address=support.from_address,
            to_address=support.admin_address,
            message_id=inbox.mail.new_message_id(support.from_address),
            now=now,
            instance_id=inbox.mail.instance_id,
            subject=f"mailbridge: {address} is flooding the support mailbox",
            text=f"{address} sent {recent} messages within 10 minutes. Their mail is stored as usual, but they\n"
            f"get no automatic mail (receipts, notices) until {now + FLOOD_HOLD:%Y-%m-%d %H:%M} UTC.\n",
        )
        outbox_queue.enqueue(
            session=session,
            mail=mail,
            sign=inbox.mail.sign,
            dedupe_key=f"flood:{address}:{now:%Y%m%dT%H%M%S}",
            kind=MailKind.FLOOD_ALERT,
            ticket_id=None,
            now=now,
        )
    if started:
        agent_mail.tell_agents_of_flood(
            inbox.mail,
            session=session,
            contact_id=contact_id,
            address=address,
            count=recent,
            until=now + FLOOD_HOLD,
            now=now,
        )
    return True


def _store_too_large(inbox: Inbox, session: Session, mail: RawMail, limit: int, now: datetime) -> IntakeResult:
    # Never parsed, so one huge mail cannot exhaust memory; it opens no ticket. Only its header is read, for the
    # sender and subject a person sees in `messages list`. Mail the poller did not download (`server_size`) is
    # kept as its header; mail handed over whole (`ingest`) is kept whole.
    size = mail.server_size if mail.server_size is not None else len(mail.raw)
    log.warning("too large, stored raw mailbox=%s uid=%s bytes=%s limit=%s", mail.mailbox, mail.uid, size, limit)
    defects = f"too_large: {size} bytes, max_message_bytes is {limit}"
    if mail.server_size is not None:
        # The poller leaves it on the server; `ingest` on stdin read only its head and discarded the rest.
        defects += "; only its header was kept" + (
            "" if mail.folder == "stdin" else ", the message is left on the server"
        )
    header = parse_message(header_block(mail.raw))
    return _store_raw(session, mail, now, MessageKind.TOO_LARGE, defects, files=inbox.raw_store, header=header)


# The most of a too-large message's header that is read for its sender and subject.
HEADER_MAX_BYTES = 256 * 1024


def header_block(raw: bytes) -> bytes:
    """The header block of raw mail (up to HEADER_MAX_BYTES), ending with its blank line."""
    head = raw[:HEADER_MAX_BYTES]
    ends = [found + len(blank) for blank in (b"\r\n\r\n", b"\n\n") if (found := head.find(blank)) >= 0]
    return head[: min(ends)] if ends else head


def store_quarantined(
    session: Session, mail: RawMail, now: datetime, reason: str, *, files: RawStore | None = None
) -> IntakeResult:
    """Keep a message raw as `quarantined` with the reason, so the mailbox moves on (`messages retry` takes it up)."""
    log.error("quarantined mailbox=%s uid=%s reason=%s", mail.mailbox, mail.uid, reason)
    return _store_raw(session, mail, now, MessageKind.QUARANTINED, reason[:500], files=files)


def _store_raw(
    session: Session,
    mail: RawMail,
    now: datetime,
    kind: MessageKind,
    defects: str,
    *,
    files: RawStore | None,
    header: ParsedMessage | None = None,
) -> IntakeResult:
    """Store a message's raw bytes only, flagged with why it was not parsed; it opens no ticket.

    `header`: what its header block says (a too-large message), for the sender, recipients, subject and date.
    """
    digest = raw_digest(mail.raw)
    # A file, if any, is written before the commit: named by its content, a retried commit finds it in place.
    kept = raw_columns(files, mail.raw, digest)
    row = Message(
        direction="in",
        mailbox=mail.mailbox,
        folder=mail.folder,
        uidvalidity=mail.uidvalidity,
        uid=mail.uid,
        raw=kept.raw,
        raw_path=kept.path,
        raw_sha256=digest,
        kind=kind,
        is_malformed=True,
        defects=defects,
        stored_at=now,
    )
    if header is not None:
        row.from_addr, row.from_name, row.subject = header.from_addr, header.from_name, header.subject
        row.to_addrs, row.sent_at = ", ".join(header.to_addrs), header.date
    session.add(row)
    session.flush()
    return IntakeResult(row.id, None, False, False, is_flagged=True)


def _department(inbox: Inbox, session: Session, parsed: ParsedMessage, kind: MessageKind) -> Contact:
    """The Contact a message belongs to: its mailbox's, or the one whose address it was written to.

    Our own mail coming back (an echo) stays with the mailbox, as does everything a forward-only mailbox reads.
    """
    home = _contact(session, inbox.contact_id)
    if kind is MessageKind.ECHO or not home.save_messages or not inbox.contact_by_address:
        return home
    headers = parsed.headers
    chosen = addressed_contact(
        original=[headers["x-original-to"]] if headers.get("x-original-to") else [],
        visible=(*parsed.to_addrs, *parsed.cc_addrs),
        delivered=[headers["delivered-to"]] if headers.get("delivered-to") else [],
        home=home.id,
        contacts=inbox.contact_by_address,
    )
    return home if chosen == home.id else _contact(session, chosen)


def _contact(session: Session, contact_id: int) -> Contact:
    return db.once_per_transaction(session, ("contact", contact_id), lambda: session.get(Contact, contact_id))


def _number(session: Session, ticket_id: int | None) -> str | None:
    ticket = session.get(Ticket, ticket_id) if ticket_id else None
    return ticket.number if ticket else None
