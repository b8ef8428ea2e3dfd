"""App: settings, engine, clock, templates, mail sources and the sender, built by build_app(settings).

The daemon, the CLI and the tests all call build_app; nothing else constructs sources or senders.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from mailbridge.base.clock import Clock, system_clock
from mailbridge.base.config.ingest import IngestSettings
from mailbridge.base.config.mailbox import check_mailbox_contacts
from mailbridge.base.config.settings import DEFAULT_MAX_MESSAGE_BYTES, MailboxSettings, Settings
from mailbridge.decisions.inbound.parse import ParseLimits
from mailbridge.decisions.outgoing.context import MailContext, mail_context, own_addresses_of
from mailbridge.decisions.outgoing.templates import make_environment
from mailbridge.decisions.own_addresses import contact_address, mailbox_addresses
from mailbridge.ingest.intake import Inbox
from mailbridge.ingest.poll import Poller, ProgressReporter
from mailbridge.ingest.prepare import Preparer
from mailbridge.ingest.sources.imap import ImapSource
from mailbridge.outbox.dkim import DkimSigner
from mailbridge.outbox.smtp import MailSender, SmtpSender
from mailbridge.runtime.shop_client import ShopClient, build_shop_client
from mailbridge.store import contacts, db
from mailbridge.store.models import Contact
from mailbridge.store.raw_files import raw_store_of


@dataclass
class App:
    settings: Settings
    engine: Engine
    clock: Clock
    mail: MailContext  # who we are when we write mail: handed to every stage that composes mail; see refresh_mail
    open_source: Callable[[MailboxSettings], ImapSource]
    sender: MailSender
    signer: DkimSigner  # the one `mail.sign` uses when a mail is queued; also for `smtp test`'s mail
    contact_ids: dict[str, int] = field(default_factory=dict)  # contact name -> id
    # Per `[smtp.NAME]`: its sender and connections, for the mail of the Contacts (brands) that name it.
    profile_senders: dict[str, tuple[MailSender, int]] = field(default_factory=dict)
    # Set on SIGTERM: the poller finishes the message in hand and stops before the next one.
    stop_requested: threading.Event = field(default_factory=threading.Event)
    progress: "ProgressReporter | None" = None  # a progress bar for long syncs (terminal only)
    preparer: Preparer = field(default_factory=lambda: Preparer(0))  # parses fetched mail in worker processes
    # Set by the daemon (runtime.fleet): a mailbox's lease check, run by intake before a commit and by a poll before
    # it marks on the server. None (`run --once`, the CLI): no check.
    fence_for: Callable[[str], Callable[[Session], None]] | None = None
    # Set by the daemon: its instance, kept on the outbox rows it claims, so a successor on its host frees them at
    # once if it dies (store.fleet.forget). None (`run --once`, the CLI): their claims wait out SENDING_LEASE.
    claimer: str | None = None
    shop: ShopClient | None = None  # [shop]: where the shop job looks customers up (runtime/shop_lookup.py)
    # Address -> id of every Contact that keeps its mail (see refresh_mail): mail a mailbox receives for another
    # Contact's address is filed there (own_addresses.addressed_contact).
    contact_by_address: dict[str, int] = field(default_factory=dict)

    @property
    def poller(self) -> Poller:
        """What a poll needs of the app: how to open a source and parse, the stop request and the progress bar."""
        return Poller(self.open_source, self.preparer, self.stop_requested, self.progress)

    def inbox(self, mailbox: MailboxSettings | None, contact: str | None = None, *, by_address: bool = True) -> Inbox:
        """What intake needs for mail of this mailbox (None: mail from outside any mailbox, filed in `contact`).

        Built for every poll, after `refresh_mail`: a Contact added or edited meanwhile is one of ours in it.
        `by_address`: mail written to another Contact's address is filed there (False: always in the home Contact,
        as `ingest --contact NAME` asks).
        """
        self.refresh_mail()
        raw_store = raw_store_of(self.settings)
        if mailbox is None:
            home = self.contact_ids[contact] if contact else next(iter(self.contact_ids.values()))
            return Inbox(
                self.engine,
                self.mail,
                home,
                contact_by_address=self.filed_by_address(home) if by_address else {},
                raw_store=raw_store,
                parse_limits=parse_limits_of(self.settings.ingest, DEFAULT_MAX_MESSAGE_BYTES),
            )
        home = self.contact_ids[contact or mailbox.contact]
        return Inbox(
            self.engine,
            self.mail,
            home,
            contact_by_address=self.filed_by_address(home) if by_address else {},
            max_message_bytes=mailbox.max_message_bytes,
            creates_tickets=mailbox.create_tickets_for_unknown,
            raw_store=raw_store,
            parse_limits=parse_limits_of(self.settings.ingest, mailbox.max_message_bytes),
            fence=self.fence_for(mailbox.name) if self.fence_for is not None else None,
        )

    def filed_by_address(self, home: int | None) -> dict[str, int]:
        """The Contacts mail may be filed in by the address it was written to, besides its mailbox's (`home`): those
        with no [[mailboxes]] of their own. A Contact with its own mailbox gets its mail from there (one folder per
        department, sorted by the mail server): mail To sales, Cc support in support's folder stays support's."""
        with_mailbox = {self.contact_ids.get(m.contact) for m in self.settings.mailboxes}
        return {a: c for a, c in self.contact_by_address.items() if c == home or c not in with_mailbox}

    def refresh_mail(self) -> None:
        """Re-read the Contacts' addresses (one small query) and make our own addresses of `mail` follow them.

        `mailbridge contacts add|edit` writes to the database only; this is how a running daemon learns of it.
        A forward-only Contact's address (`--no-save-messages`) is where its mail goes, never a From of ours.
        """
        with Session(self.engine) as session:
            saving = [c for c in contacts.contact_addresses(session) if c.save_messages]
        addresses = [c.address for c in saving]
        self.contact_by_address = {c.address.strip().lower(): c.id for c in saving if c.address and c.address.strip()}
        own = own_addresses_of(self.settings, addresses)
        if own != self.mail.own_addresses:
            self.mail = replace(self.mail, own_addresses=own)

    def inbox_named(self, mailbox_name: str) -> Inbox:
        """The Inbox of a stored message's mailbox, by the name it was stored under (`messages retry`)."""
        found = next((m for m in self.settings.mailboxes if m.name == mailbox_name), None)
        return self.inbox(found)


def parse_limits_of(ingest: IngestSettings, max_message_bytes: int) -> ParseLimits:
    """The parse limits of a mailbox's mail: `[ingest]`'s, decoded bytes twice max_message_bytes unless set."""
    return ParseLimits(ingest.max_parts, ingest.max_depth, ingest.max_decoded_bytes or 2 * max_message_bytes)


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    upgrade: bool = True,
    migrate: bool = True,
    check_contacts: bool = True,
    create_contacts: bool = False,
) -> App:
    """Build the App; by default upgrade the schema and find each mailbox's Contact (see `ensure_contacts`).

    migrate=False only checks that the schema is current (db.check_schema): every command but `run`, `init` and
    `db upgrade` opens the database that way, so an upgrade happens when the admin chooses it.

    check_contacts=False passes over, instead of refusing, a Contact that is missing and may not be created: the
    `contacts` commands, which add it, must work while the configuration names it. create_contacts=True creates
    every missing one (`init`: a new installation).
    Raises: ConfigError when a mailbox names an unknown Contact without `create_contact = true`.
    """
    engine = db.make_engine(settings.database.connect_url())
    signer = DkimSigner(settings.dkim)
    app = App(
        settings=settings,
        engine=engine,
        clock=clock or system_clock(),
        mail=mail_context(settings, make_environment(settings.templates_dir), sign=signer.sign),
        open_source=ImapSource,
        sender=SmtpSender(settings.smtp.connection),
        profile_senders={p.name: (SmtpSender(p.connection), p.max_connections) for p in settings.smtp.profiles},
        signer=signer,
        preparer=Preparer(settings.ingest.parse_processes, settings.ingest.parse_timeout_seconds),
        shop=build_shop_client(settings.shop),
    )
    if upgrade:
        if migrate:
            db.upgrade_schema(engine)
        else:
            db.check_schema(engine)
        app.contact_ids = ensure_contacts(app, create_all=create_contacts, strict=check_contacts)
        app.refresh_mail()  # the Contacts are known now: their addresses are ours
    return app


def ensure_contacts(app: App, *, create_all: bool = False, strict: bool = True) -> dict[str, int]:
    """Find the Contact each configured mailbox names, creating it when its table allows; return name -> id.

    strict=False passes over a name that may not be created instead of refusing it (it is then not in the result).
    Raises: ConfigError for a name no Contact has, from a table without `create_contact = true` (a typo must not
    become a new department).
    """
    try:
        return _ensure_contacts(app, create_all=create_all, strict=strict)
    except IntegrityError:
        # Another daemon starting at the same moment created the same Contact first (its unique name or address):
        # this transaction rolled back, and the next finds the Contact.
        return _ensure_contacts(app, create_all=create_all, strict=strict)


def _ensure_contacts(app: App, *, create_all: bool, strict: bool) -> dict[str, int]:
    now = app.clock.now()
    ids: dict[str, int] = {}
    with db.transaction(app.engine) as session:
        known = contact_names(session)
        if strict and not create_all:
            check_mailbox_contacts(app.settings.path, app.settings.mailboxes, known)
        for mailbox in app.settings.mailboxes:
            if not (create_all or mailbox.create_contact or mailbox.contact in known):
                continue
            contact = _find_or_create_contact(session, app.settings, mailbox.contact, mailbox, now)
            ids[mailbox.contact] = contact.id
    return ids


def check_contacts_of(engine: Engine, settings: Settings) -> None:
    """Check the mailboxes' Contacts of `settings` against the database, creating nothing (a reload, before it).

    Raises: ConfigError as `ensure_contacts` does.
    """
    with Session(engine) as session:
        check_mailbox_contacts(settings.path, settings.mailboxes, contact_names(session))


def contact_names(session: Session) -> set[str]:
    """The names of the Contacts the database holds (store.contacts.contact_names)."""
    return contacts.contact_names(session)


def ensure_contact(app: App, name: str) -> int:
    """Create one Contact by name when missing (for mail from outside any mailbox); return its id."""
    with db.transaction(app.engine) as session:
        contact_id = _find_or_create_contact(session, app.settings, name, None, app.clock.now()).id
    app.contact_ids[name] = contact_id
    return contact_id


def _find_or_create_contact(
    session: Session, settings: Settings, name: str, mailbox: MailboxSettings | None, now: datetime
) -> Contact:
    contact = session.exec(select(Contact).where(Contact.name == name)).first()
    if contact is None:
        # Never an invented address: the mailbox's own, else from_address, else a sub-address of it (all ours).
        taken = {c.address for c in contacts.contact_addresses(session)}
        candidates = mailbox_addresses(mailbox) if mailbox else ()
        email = contact_address(name, candidates, settings.support.from_address, taken)
        contact = Contact(name=name, email=email, created_at=now)
        session.add(contact)
        session.flush()
    return contact
