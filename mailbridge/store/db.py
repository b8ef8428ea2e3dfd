"""Engine and sessions built from Settings; schema upgrades through Alembic.

SQLite (the default) runs in WAL mode with foreign keys on; PostgreSQL runs the same code.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import cast

from sqlalchemy import Table, event, insert, inspect, text
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, create_engine

from mailbridge.base.errors import ConfigError, SchemaError
from mailbridge.base.files import create_private
from mailbridge.store.schema import MIGRATIONS, check_not_newer, check_revisions, schema_heads

log = logging.getLogger(__name__)
# What a database that cannot be reached raises: callers catch these names, not the library's.
DATABASE_DOWN = (OperationalError, InterfaceError)


def make_engine(url: str) -> Engine:
    """Create the engine for `url`; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def schema_revisions(engine: Engine) -> frozenset[str]:
    """The revisions the database is at; empty for a database with no schema yet.

    Raises: ConfigError when the database cannot be reached.
    """
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return frozenset()
            return frozenset(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(f"[database] url: cannot open {engine.url.render_as_string()}: {reason}") from None


def check_schema(engine: Engine) -> None:
    """Make sure the database is at this version's schema; only `run`, `init` and `db upgrade` change it.

    Raises: SchemaError naming the command to run; ConfigError when the database cannot be reached.
    """
    check_revisions(schema_revisions(engine))


def upgrade_schema(engine: Engine) -> frozenset[str]:
    """Bring the schema to the newest Alembic revision; return the revisions it was at (empty: a new database).

    Raises: ConfigError when the database cannot be reached or created; SchemaError when a later version of
    mailbridge upgraded it.
    """
    from alembic import command  # alembic and the migration scripts are loaded only by the commands that upgrade
    from alembic.config import Config as AlembicConfig

    if engine.url.drivername.startswith("sqlite") and engine.url.database and engine.url.database != ":memory:":
        create_private(Path(engine.url.database))  # SQLite makes its -wal and -shm files with the same mode
    before = schema_revisions(engine)
    if before == schema_heads():
        return before
    check_not_newer(before)
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with _schema_transaction(engine) as connection:
            if not before:
                _clear_cut_first_upgrade(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")
    except OperationalError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(f"[database] url: cannot open {engine.url.render_as_string()}: {reason}") from None
    return before


def _clear_cut_first_upgrade(connection: Connection) -> None:
    """Drop what a first upgrade that was cut off left behind: tables with no version recorded and no rows.

    Versions before the upgrade became one transaction committed SQLite's DDL statement by statement, so a first
    start killed part way left some tables and no version, and every later start failed on `table contact already
    exists` (issue 21). Such tables hold nothing yet. If one of our tables holds rows, nothing is dropped: a
    SchemaError says what the database is and leaves it as it is.
    """
    from mailbridge.store import models  # noqa: F401 - the tables of SQLModel.metadata

    # Only our tables: a database shared with another application keeps its own. SQLite's full-text index keeps
    # shadow tables (message_fts_data, ...): they go with message_fts.
    ours = {*SQLModel.metadata.tables, "message_fts"}
    tables = [name for name in inspect(connection).get_table_names() if name in ours]
    if not tables:
        return
    filled = sorted(name for name in tables if connection.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first())
    if filled:
        raise SchemaError(
            f"the database has tables with rows ({', '.join(filled[:5])}) but no mailbridge schema version: it is "
            "not a mailbridge database, or its version table was lost; restore it from a backup or point "
            "[database] url at an empty database"
        )
    log.warning("dropping %d empty tables that a cut-off first schema upgrade left: %s", len(tables), ", ".join(tables))
    cascade = "" if connection.dialect.name == "sqlite" else " CASCADE"
    for name in tables:
        connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"{cascade}')


@contextmanager
def _schema_transaction(engine: Engine) -> Iterator[Connection]:
    """Open one transaction for a whole upgrade, its DDL included, and commit it once at the end.

    A crash part way (tests/integration/test_schema_crash.py kills one at every migration) leaves the schema as it
    was, and the next start runs the whole upgrade again.
    """
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():  # PostgreSQL's DDL is transactional
                yield connection
            return
        # pysqlite (Python 3.11) opens a transaction only before INSERT, UPDATE and DELETE, so DDL would be
        # committed statement by statement. With its own handling off, BEGIN and COMMIT are ours; IMMEDIATE takes
        # the write lock at once, so two processes that start at the same moment upgrade one after the other.
        # The isolation level is put back when the connection returns to the pool.
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        driver = cast(sqlite3.Connection, connection.connection.driver_connection)
        try:
            yield connection
        except BaseException:
            if driver.in_transaction:  # an error may have rolled it back already
                connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """Open a session that commits once on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def run(session: Session, statement, params=None):
    """Execute a Core statement on the session's connection, in its transaction.

    For the hot, prebuilt statements of intake: it skips the ORM's execute layer (about 4 µs a statement)
    and, like any Core statement, does not autoflush, so it reads only rows that are flushed already.
    """
    return session.connection().execute(statement, params)


# Built once per (table, unique column, dialect): a statement built anew costs its cache key on every execution.
_INSERTS: dict = {}


def insert_now(session: Session, row: SQLModel) -> SQLModel:
    """INSERT a new row at once and keep it in the session as persistent, with its id set.

    For the rows intake writes for every message (customer, ticket, message): one direct INSERT
    costs about half of what adding the object and flushing the unit of work costs. Later changes
    to the object are still tracked and written as UPDATEs.
    """
    insert_unless_taken(session, row, None)  # with no unique column named, the INSERT writes or raises
    return row


@cache
def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel table class (what `Model.__table__` is; SQLModel does not declare it for mypy)."""
    return cast(Table, inspect(model).local_table)


def insert_unless_taken(session: Session, row: SQLModel, unique: str | None) -> bool:
    """Like insert_now, but write nothing when the row's value of the `unique` column is taken already.

    One statement, INSERT … ON CONFLICT DO NOTHING RETURNING id (SQLite 3.35+, PostgreSQL), instead of a
    SELECT before the INSERT; also safe when another worker inserts the same value at the same moment.
    Returns True when the row was written (and is now persistent, its id set). `unique` None: a plain INSERT.
    """
    table = table_of(type(row))
    values = {column.name: getattr(row, column.name) for column in table.columns if column.name != "id"}
    row_id = insert_values_unless_taken(session, table, values, unique)
    if row_id is None:
        return False
    row.id = row_id
    make_transient_to_detached(row)
    session.add(row)
    return True


def insert_values_unless_taken(session: Session, table: Table, values: dict, unique: str | None) -> int | None:
    """INSERT one row of `table` from `values` unless its `unique` value is taken; its key (the id), or None when
    taken."""
    found = run(session, _insert_statement(session, table, unique), values).first()
    return found[0] if found is not None else None


def _insert_statement(session: Session, table: Table, unique: str | None):
    dialect = session.get_bind().dialect.name
    key = (table, unique, dialect)
    statement = _INSERTS.get(key)
    if statement is None:
        if unique is None:
            statement = insert(table)
        else:
            statement = _DIALECT_INSERT[dialect](table).on_conflict_do_nothing(index_elements=[table.c[unique]])
        # The row's key: `id` for most tables, the name for those keyed by one (a mailbox's lease, a timer).
        statement = _INSERTS[key] = statement.returning(*table.primary_key.columns)
    return statement


_DIALECT_INSERT: dict[str, Callable[[Table], SqliteInsert | PostgresqlInsert]] = {
    "sqlite": sqlite_insert,
    "postgresql": postgresql_insert,
}


def once_per_transaction(session: Session, key: Hashable, load: Callable[[], object]):
    """Return `load()`, computed once per session: for rows a batch reads for every message (a Contact, its agents)."""
    known = session.info.setdefault("once_per_transaction", {})
    if key not in known:
        known[key] = load()
    return known[key]


def forget_once(session: Session, key: Hashable) -> None:
    """Drop what `once_per_transaction` keeps under `key`, after a write that changes it."""
    session.info.get("once_per_transaction", {}).pop(key, None)
