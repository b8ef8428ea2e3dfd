"""What every sub-command shares: the chosen config path, loading settings, building the app, JSON output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import typer

from mailbridge.base.clock import Clock, parse_instant, system_clock
from mailbridge.base.config.settings import Settings, find_config, load_settings
from mailbridge.base.errors import CommandError

if TYPE_CHECKING:  # the runtime pulls in the database, IMAP and SMTP libraries: imported when a command opens it
    from mailbridge.runtime.app import App
    from mailbridge.store.db import Engine
    from mailbridge.store.reader import Reader


@dataclass
class CliState:
    config_path: str | None = None
    clock: Clock | None = None  # None: the system clock (or MAILBRIDGE_NOW); callers embedding the CLI may set one


state = CliState()


def settings() -> Settings:
    """Load the configuration chosen by --config, $MAILBRIDGE_CONFIG or ./mailbridge.toml."""
    return load_settings(find_config(state.config_path))


@dataclass(frozen=True)
class Store:
    """What a command that only reads or edits the database needs: the settings, the engine and the clock."""

    settings: Settings
    engine: Engine
    clock: Clock


def open_store() -> Store:
    """Open the database of the chosen configuration for a command that sends no mail and polls no mailbox.

    Imports only the store (not the runtime, IMAP, SMTP or templates), so such a command starts fast. Like `open_app`
    it checks the schema (SchemaError naming the command that upgrades it) and that every `[[mailboxes]] contact`
    names a Contact the database holds (ConfigError otherwise).
    """
    from mailbridge.base.config.mailbox import check_mailbox_contacts
    from mailbridge.store import contacts, db

    current = settings()
    engine = db.make_engine(current.database.connect_url())
    db.check_schema(engine)
    with db.transaction(engine) as session:
        names = contacts.contact_names(session)
    check_mailbox_contacts(current.path, current.mailboxes, names)
    return Store(current, engine, state.clock or system_clock())


@dataclass(frozen=True)
class ReadStore:
    """What a command that only reads needs: the settings, a plain SQL reader (no ORM) and the clock."""

    settings: Settings
    reader: Reader
    clock: Clock


def open_read() -> ReadStore:
    """Open the database of the chosen configuration for a command that only reads (`status`, `tickets list|show`).

    Loads neither SQLAlchemy nor the models (store/reader.py says why); checks the schema and the mailboxes'
    Contacts like `open_store`. The connection closes when the process ends.
    """
    from mailbridge.base.config.mailbox import check_mailbox_contacts
    from mailbridge.store.reader import contact_names, open_reader

    current = settings()
    reader = open_reader(current.database.connect_url())
    check_mailbox_contacts(current.path, current.mailboxes, contact_names(reader))
    return ReadStore(current, reader, state.clock or system_clock())


def open_app(*, check_contacts: bool = True, migrate: bool = False) -> App:
    """Build the app from the chosen configuration; see build_app for check_contacts and migrate.

    Only `run`, `init` and `db upgrade` upgrade the schema; any other command on an older one is a SchemaError
    naming the command to run.
    """
    from mailbridge.runtime.app import build_app  # here: the runtime pulls in the database, IMAP and SMTP libraries

    return build_app(settings(), clock=state.clock, check_contacts=check_contacts, migrate=migrate)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def echo_json(data: Any) -> None:
    # Raw values; the C1 and bidi characters JSON leaves as they are are escaped too, so a terminal shows them.
    from mailbridge.reports.render import json_visible  # here: reports loads its libraries, root --help does not

    typer.echo(json_visible(json.dumps(data, default=_plain, indent=2, ensure_ascii=False)))


def read_text_option(option: str, path: str) -> str:
    """Read the text file an option names ("-" for stdin); an unreadable one is a CommandError naming the option."""
    try:
        return typer.get_text_stream("stdin").read() if path == "-" else open(path, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{option}: cannot read {path} ({getattr(exc, 'strerror', None) or exc})") from None


def option_instant(value: str | None, option: str, *, zone: tzinfo | None = None) -> datetime | None:
    """Read a date or time option (ISO 8601; without an offset, in `zone`, else UTC); a bad one is a CommandError
    naming the option."""
    if not value:
        return None
    try:
        moment = parse_instant(value)
        if zone is not None and datetime.fromisoformat(value.strip().replace("Z", "+00:00")).tzinfo is None:
            return moment.replace(tzinfo=zone)
        return moment
    except ValueError:
        raise CommandError(f"{option}: expected an ISO 8601 date or time like 2026-11-24, got {value!r}") from None
