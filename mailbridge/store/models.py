"""SQLModel tables. Timestamps are always set by the caller from `clock.now()`, never defaulted here.

Every row that a retry could write twice has a unique key: inbound mail by
(mailbox, folder, uidvalidity, uid), outgoing mail by `dedupe_key`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from mailbridge.decisions.kinds import Direction, OutboxStatus, TicketStatus


def _when(nullable: bool = False) -> Any:  # what Field returns
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class Contact(SQLModel, table=True):
    """A department mailbox such as "Customer service" or "Webmaster"."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    email: str = Field(unique=True)
    save_messages: bool = True
    locale: str | None = None
    created_at: datetime | None = _when()
    # Per-Contact overrides of [support] auto_close_days and [sla] first_response_hours; None: the global value.
    auto_close_days: int | None = None
    first_response_hours: float | None = None
    escalation_address: str | None = None  # SLA warnings; None: [support] admin_address
    # Jinja2 text around every relayed agent answer ({{ customer.name }}, {{ ticket.number }}); None: nothing.
    # The default for every locale without its own ContactReplyText.
    reply_greeting: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reply_signature: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    accept_attachments: bool = True  # False: attachments stay only in the raw message; the receipt says so
    send_survey: bool = True  # ask the customer for a rating when a ticket closes
    # Statuses a ticket closes itself from after auto_close_days, comma-separated ("waiting,open"); None: waiting.
    auto_close_statuses: str | None = None
    auto_close_reminder_hours: float | None = None  # the reminder before auto-close; None: [support]'s, 0: none
    # A brand of its own: From name (None: [support] from_name), `[smtp.NAME]` profile (None: [smtp]) and a
    # template directory searched before [templates_dir] and the shipped templates.
    from_name: str | None = None
    smtp: str | None = None
    template_dir: str | None = None


class ContactReplyText(SQLModel, table=True):
    """A Contact's greeting or signature in one locale (Jinja2); the Contact's reply_greeting/reply_signature is the
    text for every locale without one of these."""

    __table_args__ = (UniqueConstraint("contact_id", "part", "locale", name="uq_contact_reply_text"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id")  # the unique constraint begins with it (migration 0029)
    part: str  # "greeting" or "signature"
    locale: str
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Agent(SQLModel, table=True):
    """A person who answers tickets from their own mail client."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    email: str = Field(unique=True)  # lower-cased
    active: bool = True  # an inactive agent gets no mail and cannot answer
    locale: str | None = None  # language of the mails they get; None: the Contact's, else [support] default_locale
    created_at: datetime | None = _when()


class AgentContact(SQLModel, table=True):
    """Which agents belong to which Contacts (many to many)."""

    __table_args__ = (UniqueConstraint("agent_id", "contact_id", name="uq_agent_contact"),)

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id")  # the unique constraint begins with it (migration 0029)
    contact_id: int = Field(foreign_key="contact.id", index=True)


class TextModule(SQLModel, table=True):
    """A canned answer of one Contact in one locale, inserted by `#text NAME` (Jinja2 placeholders)."""

    __table_args__ = (UniqueConstraint("contact_id", "name", "locale", name="uq_text_module"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id")  # the unique constraint begins with it (migration 0029)
    name: str
    locale: str = "en"
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)  # lower-cased
    name: str = ""
    locale: str | None = None
    created_at: datetime | None = _when()


class Ticket(SQLModel, table=True):
    # Threading rule 4 (same customer, Contact and subject) is one indexed lookup.
    __table_args__ = (Index("ix_ticket_thread_key", "customer_id", "contact_id", "subject_key"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=11)  # public, random, ends in a Damm check digit
    status: str = Field(default=TicketStatus.NEW, index=True)
    subject: str = ""
    contact_id: int = Field(foreign_key="contact.id", index=True)
    customer_id: int = Field(foreign_key="customer.id")  # ix_ticket_thread_key begins with it (migration 0029)
    created_at: datetime | None = _when()
    updated_at: datetime | None = _when()
    closed_at: datetime | None = _when(nullable=True)
    subject_key: str = ""  # ticket_match.normalise_subject of the first subject
    linked_ticket_id: int | None = Field(default=None, foreign_key="ticket.id")  # the older ticket this one follows
    category: str | None = Field(default=None, index=True)  # "Orders > Returns"
    assigned_agent: str | None = None  # the assigned agent's address (kept with assigned_agent_id)
    assigned_agent_id: int | None = Field(default=None, foreign_key="agent.id", index=True)
    status_changed_at: datetime | None = _when(nullable=True)  # auto-close counts from here
    first_response_at: datetime | None = _when(nullable=True)  # a person's answer; automatic mail never sets it
    sla_reported_at: datetime | None = _when(nullable=True)  # the one escalation mail was queued
    # Status `merged`: the ticket this one joined (its messages moved there; mail that threads here lands there).
    merged_into_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    # Opened by an address with no earlier ticket, naming no order number ([support] presale_flag).
    presale: bool = False
    # Anonymised by `[retention] anonymise_after_days` or `customers erase` (store.erasure): content and people gone.
    anonymised_at: datetime | None = _when(nullable=True)


class TicketParticipant(SQLModel, table=True):
    """Someone besides the customer on a ticket (a colleague in Cc): relayed answers go to them in Cc.

    Added from the To and Cc of the customer's mail (`added_by` "cc") or by an agent's `#cc add` ("agent"); an agent's
    `#cc remove` keeps the row with `removed` set, so the customer's next reply-all does not bring them back.
    """

    __table_args__ = (UniqueConstraint("ticket_id", "email", name="uq_ticket_participant"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")  # uq_ticket_participant begins with it (migration 0029)
    email: str  # lower-cased
    name: str = ""
    added_by: str  # "cc", "agent" or "merge" (from a ticket merged into this one)
    removed: bool = False
    created_at: datetime | None = _when()


class Message(SQLModel, table=True):
    """One mail in or out. `raw` keeps the RFC 5322 bytes unchanged; the rest is derived."""

    __table_args__ = (
        UniqueConstraint("mailbox", "folder", "uidvalidity", "uid", name="uq_message_source"),
        Index("ix_message_sender_stored", "from_addr", "stored_at"),
    )  # the flood count

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    direction: str = Direction.INBOUND
    mailbox: str | None = None
    folder: str | None = None
    uidvalidity: int | None = Field(default=None, sa_column=Column(BigInteger))  # IMAP allows up to 2**32-1
    uid: int | None = Field(default=None, sa_column=Column(BigInteger))
    message_id: str | None = Field(default=None, index=True)
    in_reply_to: str | None = None
    references: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    from_addr: str | None = None  # found through ix_message_sender_stored (migration 0029)
    from_name: str = ""
    to_addrs: str = ""
    cc_addrs: str = ""
    subject: str = ""
    sent_at: datetime | None = _when(nullable=True)  # the Date header
    text_body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    stripped_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # without quotes/signature
    html_body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # empty when raw_path holds the bytes
    raw_path: str | None = None  # the file of raw mail over [ingest] raw_file_threshold_bytes (store.raw_files)
    raw_sha256: str = Field(index=True)
    kind: str = "customer"
    match_reason: str | None = None
    order_number: str | None = Field(default=None, index=True)  # first [support] order_number_regex match
    is_malformed: bool = False
    defects: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    stored_at: datetime | None = _when()


class MessageReference(SQLModel, table=True):
    """A Message-ID that a stored inbound message names in In-Reply-To or References, one row each.

    Keyed by the id first, so threading finds at once the stored replies to a message that arrives after them,
    and the mail that shares a reference with a new one whose parent was never seen.
    """

    referenced_id: str = Field(sa_column=Column(String, primary_key=True))
    # No ON DELETE CASCADE: a batch rebuild of `message` on SQLite (DROP TABLE under foreign_keys=ON) would
    # empty this table silently; like Attachment's, the key makes such a migration fail loudly instead.
    message_row_id: int = Field(sa_column=Column(Integer, ForeignKey("message.id"), primary_key=True, index=True))


class Attachment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    filename: str
    content_type: str
    size: int
    sha256: str
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class TicketEvent(SQLModel, table=True):
    """The audit trail: every change to a ticket, with actor, time and reason."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: datetime | None = _when()
    actor: str  # "customer:<email>", "agent:<email>", "system"
    kind: str  # created, status_changed, message_added, mail_queued, mail_failed ...
    old_status: str | None = None
    new_status: str | None = None
    reason: str = ""


class OutboxMail(SQLModel, table=True):
    """An outgoing mail, rendered and given its Message-ID when enqueued, so a resend is identical."""

    # Counting a ticket's recent mail (loop guard) on every intake: without this index SQLite walks
    # every automatic row, which made intake slow down linearly with the outbox.
    __table_args__ = (
        Index("ix_outboxmail_ticket_created", "ticket_id", "created_at"),
        Index("ix_outboxmail_rcpt_created", "rcpt_to", "created_at"),  # the loop guard's daily count
        # A claim walks the rows of one status in its order and stops at the few it takes (migration 0027).
        Index("ix_outboxmail_claim", "status", "priority", "next_attempt_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id")  # ix_outboxmail_ticket_created (0029)
    kind: str
    message_id: str = Field(unique=True)
    mail_from: str
    rcpt_to: str  # comma-separated envelope recipients; ix_outboxmail_rcpt_created (0029)
    subject: str = ""
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    is_automatic: bool = Field(default=True, index=True)  # RFC 3834 mail, counted by the loop guard
    caused_by_message_id: int | None = Field(default=None, foreign_key="message.id")  # the mail it answers
    status: str = Field(default=OutboxStatus.QUEUED)  # indexed first in ix_outboxmail_claim
    attempts: int = 0
    next_attempt_at: datetime | None = _when()
    last_attempt_at: datetime | None = _when(nullable=True)
    last_error: str = ""
    created_at: datetime | None = _when()
    sent_at: datetime | None = _when(nullable=True)
    smtp_profile: str | None = None  # the `[smtp.NAME]` it goes through, chosen when queued; None: [smtp]
    priority: int = Field(default=1, sa_column_kwargs={"server_default": "1"})  # decisions.outbox_priority, by kind
    claimed_by: str | None = None  # the daemon (instance) that claimed it last: a dead one's claims are freed at once


class HeldAnswer(SQLModel, table=True):
    """An agent's answer that does not go out at once (`decisions.held_answers`): waiting out the undo window
    (`[agents] send_delay_seconds`) in the outbox with the status change it carried, or written to an out-of-date
    notification and kept as a note until the agent replies `#send`."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    agent_id: int = Field(foreign_key="agent.id", index=True)
    state: str = Field(index=True)  # HeldState: waiting, released, cancelled, stale, confirmed
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # the reply, commands included
    source_message_id: int | None = Field(default=None, foreign_key="message.id")  # the agent's mail; None: CLI
    outbox_id: int | None = Field(default=None, foreign_key="outboxmail.id", unique=True)  # the waiting answer
    copy_message_id: int | None = Field(default=None, foreign_key="message.id")  # its stored outbound copy
    pending_status: str | None = None  # the status the answer moves the ticket to when it is released
    due_at: datetime | None = _when(nullable=True)  # when a waiting answer goes out
    created_at: datetime | None = _when()
    finished_at: datetime | None = _when(nullable=True)  # released, cancelled or confirmed


class MailboxState(SQLModel, table=True):
    """Where each mailbox folder was read up to, per UIDVALIDITY."""

    __table_args__ = (UniqueConstraint("mailbox", "folder", name="uq_mailbox_folder"),)

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str
    folder: str
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))  # IMAP allows up to 2**32-1
    last_uid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    silent_below_uid: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, default=0)
    )  # imported without any mail sent below this UID
    # UIDs up to this one were in the folder before its first poll and were not taken (initial_sync new-only); the
    # audit leaves them out. None: the row is older than the audit (it then takes the lowest stored UID's line).
    start_uid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_success_at: datetime | None = _when(nullable=True)
    last_error: str = ""


class MailboxAudit(SQLModel, table=True):
    """The last audit of one mailbox (`mailboxes audit`, the daemon's nightly run): its counts and problems."""

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(unique=True)
    ran_at: datetime | None = _when()
    missing: int = 0  # on the server, not stored
    marked_not_stored: int = 0
    stored_not_marked: int = 0
    not_yet_polled: int = 0
    on_server: int = 0
    stored: int = 0
    # JSON: the counts, and one object per problem message (folder, uid, finding, date, from, subject).
    problems: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    error: str = ""  # the audit could not run (the server refused): why; the counts are then those of no audit


class MailboxHealth(SQLModel, table=True):
    """How one mailbox's connection fares: backoff after failures, the failure episode, its alert."""

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(unique=True)
    last_success_at: datetime | None = _when(nullable=True)
    last_error: str = ""
    last_error_at: datetime | None = _when(nullable=True)
    failing_since: datetime | None = _when(nullable=True)  # start of the current failure episode
    consecutive_failures: int = 0
    retry_at: datetime | None = _when(nullable=True)  # skipped by the poller until then
    alerted_at: datetime | None = _when(nullable=True)  # the current episode was reported


class JobHealth(SQLModel, table=True):
    """How one daemon job or loop fares (deliver_outbox, the timers): its failure episode and backoff."""

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(unique=True)
    last_success_at: datetime | None = _when(nullable=True)
    last_error: str = ""
    last_error_at: datetime | None = _when(nullable=True)
    failing_since: datetime | None = _when(nullable=True)  # start of the current failure episode
    consecutive_failures: int = 0
    retry_at: datetime | None = _when(nullable=True)  # the job runs again then


class IntakeFailure(SQLModel, table=True):
    """Counts how often one source message broke our code; at three it is quarantined."""

    __table_args__ = (UniqueConstraint("mailbox", "folder", "uidvalidity", "uid", name="uq_failure_source"),)

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str
    folder: str
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    failures: int = 0
    last_error: str = ""
    updated_at: datetime | None = _when()


class BlockedSender(SQLModel, table=True):
    """An address (`spam@example.com`) or a domain (`@example.com`, subdomains too) whose mail is spam: stored on a
    ticket with status `spam`, never answered by automatic mail (`customers block`, an agent's `#spam`)."""

    id: int | None = Field(default=None, primary_key=True)
    entry: str = Field(unique=True)  # lower-cased; decisions.inbound.spam_verdict.block_entry
    reason: str = ""
    actor: str = ""  # "cli", "agent:<email>"
    created_at: datetime | None = _when()


class AddressSuppression(SQLModel, table=True):
    """No automatic mail to this address until `until`: it bounced permanently, or it floods us."""

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(unique=True)
    reason: str
    until: datetime | None = _when()
    created_at: datetime | None = _when()


class Rating(SQLModel, table=True):
    """A customer's answer to a satisfaction survey. Per ticket, the row with `replaced_at` None counts."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    message_id: int = Field(foreign_key="message.id", unique=True)  # the mail that carried it: a retry adds nothing
    score: int  # 1-5
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    source: str = "link"  # "link": a mailto rating address; "reply": a plain reply to the survey
    contact_id: int = Field(foreign_key="contact.id", index=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id", index=True)  # assigned when rated
    created_at: datetime | None = _when()
    replaced_at: datetime | None = _when(nullable=True)  # a later answer within the window took its place


class ShopCache(SQLModel, table=True):
    """A customer looked up in the `[shop]` (store/shop_cache.py): the answer's JSON (decisions.shop.to_payload),
    or the error of a failed lookup (payload None); used until `[shop] cache_minutes` after `fetched_at`."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)  # lower-cased
    fetched_at: datetime | None = _when()
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class ShopWait(SQLModel, table=True):
    """A customer message whose agent notification waits for the customer's first shop lookup (runtime.shop_lookup
    sends it, with the history or without it when the lookup failed)."""

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", unique=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    email: str  # the customer's address, lower-cased
    headline: str  # new_ticket or new_message
    created_at: datetime | None = _when()


class Erasure(SQLModel, table=True):
    """The audit record of one erasure (`customers erase`) or retention run: who, when and how much was removed.

    It never holds the erased address: `subject` is the pseudonym the person's remaining rows now carry.
    """

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = _when()
    actor: str  # "admin:<login>", "system" (the retention timer)
    kind: str  # "erase" or "retention"
    subject: str = ""  # erase: erased-<hash>@invalid (decisions.retention.pseudonym_of); retention: ""
    counts: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # ErasureCounts, JSON


class DaemonRow(SQLModel, table=True):
    """One running `mailbridge run`: who it is and when it last showed life (store/fleet.py beats it)."""

    __tablename__ = "daemon"

    instance: str = Field(primary_key=True)  # random per process start
    host: str
    pid: int
    started_at: datetime | None = _when()
    last_beat_at: datetime | None = _when()


class MailboxLease(SQLModel, table=True):
    """Which daemon polls and IDLEs a mailbox, until when; taken and renewed with compare-and-set updates."""

    mailbox: str = Field(primary_key=True)
    holder: str | None = None  # DaemonRow.instance; None: free
    expires_at: datetime | None = _when(nullable=True)  # free: when it was freed (None: never held)
    taken_at: datetime | None = _when(nullable=True)


class TimerDue(SQLModel, table=True):
    """When a daemon timer (close_idle_tickets, check_sla) runs next; one daemon claims each due time."""

    job: str = Field(primary_key=True)
    next_due: datetime | None = _when()
    claimed_by: str = ""
    claimed_at: datetime | None = _when(nullable=True)
