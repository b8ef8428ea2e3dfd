"""App: settings, engine, clock, templates, mail sources and the sender, built by build_app(settings).

The daemon, the CLI and the tests all call build_app; nothing else constructs sources or senders.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailbridge.base.clock import Clock, system_clock
from mailbridge.base.config.settings import MailboxSettings, Settings
from mailbridge.decisions.outgoing.context import MailContext, mail_context
from mailbridge.decisions.outgoing.templates import make_environment
from mailbridge.ingest.intake import Inbox
from mailbridge.ingest.poll import Poller, ProgressReporter
from mailbridge.ingest.prepare import Preparer
from mailbridge.ingest.sources.imap import ImapSource
from mailbridge.outbox.dkim import DkimSigner
from mailbridge.outbox.smtp import MailSender, SmtpSender
from mailbridge.store import db
from mailbridge.store.models import Contact


@dataclass
class App:
    settings: Settings
    engine: Engine
    clock: Clock
    mail: MailContext  # who we are when we write mail: handed to every stage that composes mail
    open_source: Callable[[MailboxSettings], ImapSource]
    sender: MailSender
    signer: DkimSigner
    contact_ids: dict[str, int] = field(default_factory=dict)  # contact name -> id
    # Set on SIGTERM: the poller finishes the message in hand and stops before the next one.
    stop_requested: threading.Event = field(default_factory=threading.Event)
    progress: "ProgressReporter | None" = None  # a progress bar for long syncs (terminal only)
    preparer: Preparer = field(default_factory=lambda: Preparer(0))  # parses large syncs in worker processes

    @property
    def poller(self) -> Poller:
        """What a poll needs of the app: how to open a source and parse, the stop request and the progress bar."""
        return Poller(self.open_source, self.preparer, self.stop_requested, self.progress)

    def inbox(self, mailbox: MailboxSettings | None, contact: str | None = None) -> Inbox:
        """What intake needs for mail of this mailbox (None: mail from outside any mailbox, filed in `contact`)."""
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
        preparer=Preparer(settings.ingest.parse_processes),
    )
    if upgrade:
        db.upgrade_schema(engine)
        app.contact_ids = ensure_contacts(app)
    return app


def ensure_contacts(app: App) -> dict[str, int]:
    """Create the Contact each configured mailbox names, when missing; return name -> id."""
    now = app.clock.now()
    domain = app.settings.support.from_address.rpartition("@")[2]
    ids: dict[str, int] = {}
    with db.transaction(app.engine) as session:
        for mailbox in app.settings.mailboxes:
            contact = _find_or_create_contact(session, mailbox.contact, mailbox.connection.username, domain, now)
            ids[mailbox.contact] = contact.id
    return ids


def ensure_contact(app: App, name: str) -> int:
    """Create one Contact by name when missing (for mail from outside any mailbox); return its id."""
    domain = app.settings.support.from_address.rpartition("@")[2]
    with db.transaction(app.engine) as session:
        contact_id = _find_or_create_contact(session, name, None, domain, app.clock.now()).id
    app.contact_ids[name] = contact_id
    return contact_id


def _find_or_create_contact(session: Session, name: str, username: str | None, domain: str, now: datetime) -> Contact:
    contact = session.exec(select(Contact).where(Contact.name == name)).first()
    if contact is None:
        username = (username or "").lower()
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "support"
        email = username if "@" in username else f"{slug}@{domain}"
        # Two Contacts read through one login (folders of one mailbox): the second gets its own address.
        if session.exec(select(Contact.id).where(Contact.email == email)).first() is not None:
            email = f"{slug}@{domain}"
        contact = Contact(name=name, email=email, created_at=now)
        session.add(contact)
        session.flush()
    return contact
