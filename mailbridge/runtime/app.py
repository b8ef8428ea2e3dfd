"""App: settings, engine, clock, templates, mail sources and the sender, built by build_app(settings).

The daemon, the CLI and the tests all call build_app; nothing else constructs sources or senders.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from jinja2 import Environment
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailbridge.store import db
from mailbridge.base.clock import Clock, system_clock
from mailbridge.decisions.outgoing.compose import is_own_message_id, new_message_id
from mailbridge.base.config.settings import MailboxSettings, Settings
from mailbridge.outbox.dkim import DkimSigner
from mailbridge.ingest.sources.imap import ImapSource
from mailbridge.ingest.prepare import Preparer
from mailbridge.store.models import Contact
from mailbridge.outbox.smtp import MailSender, SmtpSender
from mailbridge.decisions.outgoing.templates import make_environment
from mailbridge.decisions.matching.ticket_numbers import subject_number_pattern


class ProgressReporter(Protocol):
    """Shows how far a long operation is: start(label, total), advance(count), finish()."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def finish(self) -> None: ...


@dataclass
class App:
    settings: Settings
    engine: Engine
    clock: Clock
    templates: Environment
    open_source: Callable[[MailboxSettings], ImapSource]
    sender: MailSender
    signer: DkimSigner
    contact_ids: dict[str, int] = field(default_factory=dict)  # contact name -> id
    # Set on SIGTERM: the poller finishes the message in hand and stops before the next one.
    stop_requested: threading.Event = field(default_factory=threading.Event)
    progress: "ProgressReporter | None" = None  # a progress bar for long syncs (terminal only)
    preparer: Preparer = field(default_factory=lambda: Preparer(0))  # parses large syncs in worker processes

    @property
    def instance_id(self) -> str:
        return hashlib.sha256(self.settings.support.from_address.encode()).hexdigest()[:16]

    @property
    def secret(self) -> str | None:
        """The secret that signs reply tokens and our Message-IDs, when configured."""
        secret = self.settings.support.secret
        return secret.value if secret else None

    def new_message_id(self, from_address: str) -> str:
        """Draw a signed Message-ID for a mail we send."""
        return new_message_id(from_address, self.secret)

    def is_own_message_id(self, message_id: str | None) -> bool:
        return is_own_message_id(message_id, self.secret)

    @property
    def own_addresses(self) -> frozenset[str]:
        addresses = {self.settings.support.from_address}
        addresses.update(m.connection.username.lower() for m in self.settings.mailboxes
                         if m.connection.username and "@" in m.connection.username)
        return frozenset(addresses)

    @property
    def subject_pattern(self) -> re.Pattern[str]:
        return subject_number_pattern(self.settings.support.ticket_subject_format)


def build_app(settings: Settings, *, clock: Clock | None = None, upgrade: bool = True) -> App:
    """Build the App; by default upgrade the schema and make sure each mailbox's Contact exists."""
    engine = db.make_engine(settings.database.url)
    app = App(
        settings=settings,
        engine=engine,
        clock=clock or system_clock(),
        templates=make_environment(settings.templates_dir),
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
