"""A plain DB-API connection for the read side: the commands that only look (`status`, `tickets list|show|search`,
`customers show`) and the daemon's status figures.

Why not the ORM: importing SQLAlchemy and SQLModel with our models costs about 0.8 s on the 2-core test machine, more
than the whole budget of such a command (issue 17: under 0.5 s on a store of 100,000 messages). A `Reader` runs SQL
text on the standard library's `sqlite3` or on psycopg, and hands rows back as dicts. The SQL is written once, in
the subset both SQLite and PostgreSQL understand, with `:name` parameters (turned into psycopg's `%(name)s` here).
Inside the daemon `reader_of(session)` runs the same SQL on a session's own connection and transaction.

Stored times come back as aware UTC datetimes (`instant`): SQLite holds them as text, PostgreSQL as timestamptz.
The schema check here is the same rule as `db.check_schema` (`schema.check_revisions`), without loading alembic.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from mailbridge.base.clock import utc
from mailbridge.base.config.settings import mask_url_password
from mailbridge.base.errors import ConfigError, MailbridgeError
from mailbridge.store.schema import check_revisions

_NAMED = re.compile(r"(?<![:\w]):(\w+)")  # `:name`, never the `::` of a PostgreSQL cast


@dataclass(frozen=True)
class Reader:
    """A DB-API connection and its dialect ("sqlite" or "postgresql"); queries take `:name` parameters."""

    connection: Any  # sqlite3.Connection | psycopg.Connection
    dialect: str

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one SELECT and return its rows as dicts keyed by column name."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(_NAMED.sub(r"%(\1)s", sql) if self.dialect == "postgresql" else sql, params or {})
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def first(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The first row of a SELECT, or None."""
        found = self.rows(sql, params)
        return found[0] if found else None

    def column(self, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
        """The first column of every row."""
        return [next(iter(row.values())) for row in self.rows(sql, params)]

    def time(self, when: datetime) -> Any:
        """A time as a query parameter compared with (or written as) a stored time: SQLite's are UTC text as
        SQLAlchemy writes them, PostgreSQL's timestamptz."""
        if self.dialect == "sqlite":
            return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return when

    def write(self, statements: list[tuple[str, dict[str, Any]]]) -> None:
        """Run UPDATE or INSERT statements in one transaction and commit it (a Reader opened with writable=True)."""
        cursor = self.connection.cursor()
        try:
            for sql, params in statements:
                cursor.execute(_NAMED.sub(r"%(\1)s", sql) if self.dialect == "postgresql" else sql, params)
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        finally:
            cursor.close()

    def close(self) -> None:
        self.connection.close()


def open_reader(url: str, *, writable: bool = False) -> Reader:
    """Connect to the database a `[database] url` names (SQLAlchemy's URL form) and check its schema.

    SQLite opens an existing file only (a missing one is never created by a command that only reads), read-only
    unless `writable` (the idle `run --once`, runtime/idle_cycle.py, writes the time of its poll).
    Raises: ConfigError when the database cannot be opened; SchemaError when its schema is not this version's.
    """
    scheme, _, rest = url.partition("://")
    dialect = scheme.partition("+")[0]
    try:
        if dialect == "sqlite":
            connection: Any = _open_sqlite(rest, writable)
        elif dialect in ("postgresql", "postgres"):
            import psycopg  # here: only PostgreSQL installations load it

            connection = psycopg.connect(f"postgresql://{rest}", connect_timeout=10)
        else:
            raise ConfigError(f"[database] url: unsupported database {scheme!r} (expected sqlite or postgresql)")
    except MailbridgeError:
        raise
    except Exception as exc:  # noqa: BLE001 - sqlite3 and psycopg errors alike: one line naming the database
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"[database] url: cannot open {mask_url_password(url)}: {reason}") from None
    reader = Reader(connection, "sqlite" if dialect == "sqlite" else "postgresql")
    try:
        check_revisions(schema_revisions(reader))
    except BaseException:
        reader.close()
        raise
    return reader


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite `[database] url` (SQLAlchemy's form: sqlite:///relative.db, sqlite:////absolute.db);
    None for another database, or for SQLite in memory (sqlite:// alone, or :memory:)."""
    scheme, _, rest = url.partition("://")
    if scheme.partition("+")[0] != "sqlite":
        return None
    path = unquote(rest[1:].partition("?")[0]) if rest.startswith("/") else ""
    return path if path and path != ":memory:" else None


def _open_sqlite(rest: str, writable: bool) -> sqlite3.Connection:
    path = sqlite_path(f"sqlite://{rest}")
    if not path:
        raise ConfigError("[database] url: an in-memory SQLite database holds nothing to read")
    if not os.path.exists(path):
        check_revisions(frozenset())  # no file yet is no tables yet: the SchemaError naming the command to run
    # mode=rw: a missing file is an error, not a new empty database. The busy timeout lets a read wait out a write.
    connection = sqlite3.connect(f"file:{_uri_path(path)}?mode=rw", uri=True, timeout=30, check_same_thread=False)
    if not writable:
        connection.execute("PRAGMA query_only = ON")
    return connection


def _uri_path(path: str) -> str:
    """A file path as the path of a `file:` URI (`?` and `#` would start its query or fragment)."""
    return quote(path, safe="/")


def reader_of(session: Any) -> Reader:
    """A Reader on a SQLAlchemy session's own connection, inside its transaction (the daemon's status figures)."""
    connection = session.connection()
    return Reader(connection.connection.driver_connection, connection.dialect.name)


def schema_revisions(reader: Reader) -> frozenset[str]:
    """The revisions alembic's version table holds; empty for a database with no schema yet."""
    if reader.dialect == "sqlite":
        known = reader.rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
    else:
        known = reader.rows("SELECT to_regclass('alembic_version') AS name")
        known = [row for row in known if row["name"]]
    if not known:
        return frozenset()
    return frozenset(reader.column("SELECT version_num FROM alembic_version"))


def contact_names(reader: Reader) -> set[str]:
    """The names of the Contacts the database holds (the mailboxes' `contact` keys are checked against them)."""
    return set(reader.column("SELECT name FROM contact"))


def instant(value: Any) -> datetime | None:
    """A stored time as aware UTC: SQLite gives the text SQLAlchemy wrote ("2026-12-02 10:00:00.000000")."""
    if value is None or isinstance(value, datetime):
        return utc(value)
    return utc(datetime.fromisoformat(value))


def in_list(name: str, values: Iterable[Any]) -> tuple[str, dict[str, Any]]:
    """`(:name0, :name1, ...)` and its parameters, for an IN over a list of values (never empty: a NULL stands in)."""
    items: Sequence[Any] = list(values)
    if not items:
        return "(NULL)", {}
    params = {f"{name}{i}": value for i, value in enumerate(items)}
    return "(" + ", ".join(f":{key}" for key in params) + ")", params
