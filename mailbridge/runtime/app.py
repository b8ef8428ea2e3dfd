"""App: settings, engine, clock, templates, mail sources and the sender, built by build_app(settings).

The daemon, the CLI and the tests all call build_app; nothing else constructs sources or senders.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailbridge.base.clock import Clock, system_clock
from mailbridge.base.config.settings import MailboxSettings, Settings
from mailbridge.decisions.outgoing.context import MailContext, mail_context, own_addresses_of
from mailbridge.decisions.outgoing.templates import make_environment
from mailbridge.decisions.own_addresses import contact_address, mailbox_addresses
from mailbridge.ingest.intake import Inbox
from mailbridge.ingest.poll import Poller, ProgressReporter
from mailbridge.ingest.prepare import Preparer
from mailbridge.ingest.sources.imap import ImapSource
from mailbridge.outbox.dkim import DkimSigner
from mailbridge.outbox.smtp import MailSender, SmtpSender
from mailbridge.store import contacts, db
from mailbridge.store.models import Contact


@dataclass
class App:
    settings: Settings
    engine: Engine
    clock: Clock
    mail: MailContext  # who we are when we write mail: handed to every stage that composes mail; see refresh_mail
    open_source: Callable[[MailboxSettings], ImapSource]
    sender: MailSender
    signer: DkimSigner
    contact_ids: dict[str, int] = field(default_factory=dict)  # contact name -> id
    # Set on SIGTERM: the poller finishes the message in hand and stops before the next one.
    stop_requested: threading.Event = field(default_factory=threading.Event)
    progress: "ProgressReporter | None" = None  # a progress bar for long syncs (terminal only)
    preparer: Preparer = field(default_factory=lambda: Preparer(0))  # parses fetched mail in worker processes

    @property
    def poller(self) -> Poller:
        """What a poll needs of the app: how to open a source and parse, the stop request and the progress bar."""
        return Poller(self.open_source, self.preparer, self.stop_requested, self.progress)

    def inbox(self, mailbox: MailboxSettings | None, contact: str | None = None) -> Inbox:
        """What intake needs for mail of this mailbox (None: mail from outside any mailbox, filed in `contact`).

        Built for every poll, after `refresh_mail`: a Contact added or edited meanwhile is one of ours in it.
        """
        self.refresh_mail()
        if mailbox is None:
            return Inbox(
                self.engine, self.mail, self.contact_ids[contact] if contact else next(iter(self.contact_ids.values()))
            )
        return Inbox(
            self.engine,
            self.mail,
            self.contact_ids[contact or mailbox.contact],
            max_message_bytes=mailbox.max_message_bytes,
            creates_tickets=mailbox.create_tickets_for_unknown,
        )

    def refresh_mail(self) -> None:
        """Re-read the Contacts' addresses (one small query) and make our own addresses of `mail` follow them.

        `mailbridge contacts add|edit` writes to the database only; this is how a running daemon learns of it.
        A forward-only Contact's address (`--no-save-messages`) is where its mail goes, never a From of ours.
        """
        with Session(self.engine) as session:
            addresses = [c.address for c in contacts.contact_addresses(session) if c.save_messages]
        own = own_addresses_of(self.settings, addresses)
        if own != self.mail.own_addresses:
            self.mail = replace(self.mail, own_addresses=own)

    def inbox_named(self, mailbox_name: str) -> Inbox:
        """The Inbox of a stored message's mailbox, by the name it was stored under (`messages retry`)."""
        found = next((m for m in self.settings.mailboxes if m.name == mailbox_name), None)
        return self.inbox(found)


def build_app(settings: Settings, *, clock: Clock | None = None, upgrade: bool = True) -> App:
    """Build the App; by default upgrade the schema and make sure each mailbox's Contact exists."""
    engine = db.make_engine(settings.database.url)
    app = App(
        settings=settings,
        engine=engine,
        clock=clock or system_clock(),
        mail=mail_context(settings, make_environment(settings.templates_dir)),
        open_source=ImapSource,
        sender=SmtpSender(settings.smtp.connection),
        signer=DkimSigner(settings.dkim),
        preparer=Preparer(settings.ingest.parse_processes, settings.ingest.parse_timeout_seconds),
    )
    if upgrade:
        db.upgrade_schema(engine)
        app.contact_ids = ensure_contacts(app)
        app.refresh_mail()  # the Contacts are known now: their addresses are ours
    return app


def ensure_contacts(app: App) -> dict[str, int]:
    """Create the Contact each configured mailbox names, when missing; return name -> id."""
    now = app.clock.now()
    ids: dict[str, int] = {}
    with db.transaction(app.engine) as session:
        for mailbox in app.settings.mailboxes:
            contact = _find_or_create_contact(session, app.settings, mailbox.contact, mailbox, now)
            ids[mailbox.contact] = contact.id
    return ids


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
