"""Issue 21, item 2: a schema upgrade killed part way (SIGKILL, a power cut) leaves the database as it was, and the
next `mailbridge db upgrade` brings it to exactly the schema a clean upgrade gives.

`mailbridge db upgrade` runs in a child process that tests/integration/upgrade_killer.py kills right after a chosen
SQL statement ran: after each migration's version stamp (its DDL all ran, nothing is committed yet), and inside a
migration, in the middle of a batch table rebuild.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from mailbridge.store import db
from tests.conftest import REPO, run_cli
from tests.integration.test_schema_check import _upgrade_to


def _revisions() -> list[str]:
    scripts = ScriptDirectory(str(db.MIGRATIONS))
    return sorted(script.revision for script in scripts.walk_revisions())


def _stamped(revision: str) -> str:
    """The statement that records `revision` in alembic_version: the migration's own statements all ran."""
    return rf"(INSERT INTO alembic_version .*'{revision}'|SET version_num='{revision}')"


# Inside a migration: the first CREATE TABLE, a table dropped by a batch rebuild before its copy is renamed, the
# copy renamed, SQLite's full-text table and its triggers.
_MIDWAY = [
    r"^\s*CREATE TABLE contact\b",
    r"^\s*DROP TABLE contact\b",
    r"^\s*ALTER TABLE _alembic_tmp_message RENAME",
    r"CREATE VIRTUAL TABLE message_fts",
    r"^\s*CREATE TRIGGER",
]


def _config(path: Path, url: str) -> Path:
    path.write_text(
        f'[database]\nurl = "{url}"\n\n[support]\nfrom_address = "support@shop.example"\n\n[smtp]\nhost = "127.0.0.1"\n',
        encoding="utf-8",
    )
    return path


def _upgrade_killed_after(pattern: str, config: Path) -> None:
    """Run `mailbridge db upgrade` in a child that is SIGKILLed right after the first statement matching pattern."""
    command = [
        sys.executable,
        "-m",
        "tests.integration.upgrade_killer",
        pattern,
        "--config",
        str(config),
        "db",
        "upgrade",
    ]
    child = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert child.returncode == -signal.SIGKILL, f"not killed at {pattern!r}: {child.returncode} {child.stderr}"


def _sqlite_schema(url: str) -> list[tuple]:
    """Every object of sqlite_master; a plain table as the inspector sees it.

    A table rebuilt by a batch migration lists its constraints in an order that changes from one process to the
    next (alembic keeps them in a set), so a table's CREATE text is not compared, its parts are.
    """
    with db.make_engine(url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        rows = connection.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        schema = [
            row if row[0] != "table" or "VIRTUAL" in (row[3] or "") else _table(connection, row[1]) for row in rows
        ]
        versions = connection.execute(text("SELECT version_num FROM alembic_version ORDER BY 1")).scalars()
        return [tuple(entry) for entry in schema] + [("alembic_version", *versions)]


def _table(connection, name: str) -> tuple:
    found = inspect(connection)
    by_name = lambda entries: sorted(repr(sorted(entry.items())) for entry in entries)  # noqa: E731
    return (
        "table",
        name,
        [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in found.get_columns(name)],
        found.get_pk_constraint(name)["constrained_columns"],
        by_name(found.get_foreign_keys(name)),
        by_name(found.get_unique_constraints(name)),
        by_name(found.get_indexes(name)),
        by_name(found.get_check_constraints(name)),
    )


@pytest.fixture(scope="module")
def clean_sqlite_schema(tmp_path_factory) -> list[tuple]:
    url = f"sqlite:///{tmp_path_factory.mktemp('clean')}/clean.db"
    db.upgrade_schema(db.make_engine(url))
    return _sqlite_schema(url)


@pytest.mark.parametrize("pattern", [_stamped(revision) for revision in _revisions()] + _MIDWAY)
def test_sqlite_upgrade_killed_part_way_is_completed_by_the_next_one(pattern, tmp_path, clean_sqlite_schema):
    url = f"sqlite:///{tmp_path}/mailbridge.db"
    config = _config(tmp_path / "mailbridge.toml", url)
    _upgrade_killed_after(pattern, config)
    assert db.schema_revisions(db.make_engine(url)) == frozenset()  # nothing of the killed upgrade was kept
    result = run_cli("db", "upgrade", config=config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("schema upgraded from no tables to ")
    assert _sqlite_schema(url) == clean_sqlite_schema


def test_sqlite_upgrade_of_an_older_schema_killed_part_way_keeps_it_and_its_rows(tmp_path, clean_sqlite_schema):
    url = f"sqlite:///{tmp_path}/old.db"
    config = _config(tmp_path / "mailbridge.toml", url)
    _upgrade_to(url, "0010")
    with db.make_engine(url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO contact (name, email, save_messages, created_at) VALUES ('Sales', 'sales@shop.example', 1, '2026-01-01')"
            )
        )
    _upgrade_killed_after(r"CREATE TABLE contactreplytext", config)  # in 0012, the newest migration
    assert db.schema_revisions(db.make_engine(url)) == frozenset({"0010"})
    assert run_cli("db", "upgrade", config=config).returncode == 0
    assert _sqlite_schema(url) == clean_sqlite_schema
    with db.make_engine(url).connect() as connection:
        assert connection.execute(text("SELECT name FROM contact")).scalars().all() == ["Sales"]


def _cut_first_upgrade_of_old_versions(url: str) -> None:
    """What a first start killed part way left before upgrades were one transaction: the tables of the migrations
    that ran (each statement committed) and no version recorded."""
    _upgrade_to(url, "0011")  # message, its full-text index and triggers included
    with db.make_engine(url).begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))


def test_sqlite_left_half_created_by_an_old_version_is_cleared_and_upgraded(tmp_path, clean_sqlite_schema):
    url = f"sqlite:///{tmp_path}/bricked.db"
    config = _config(tmp_path / "mailbridge.toml", url)
    _cut_first_upgrade_of_old_versions(url)
    with db.make_engine(url).begin() as connection:  # another application's table in the same file is left alone
        connection.execute(text("CREATE TABLE other_app (id INTEGER PRIMARY KEY)"))
        connection.execute(text("INSERT INTO other_app (id) VALUES (7)"))
    bricked = run_cli("tickets", "list", config=config)
    assert bricked.returncode == 1 and "no tables yet" in bricked.stderr
    result = run_cli("db", "upgrade", config=config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("schema upgraded from no tables to ")
    assert [entry for entry in _sqlite_schema(url) if "other_app" not in entry[1:3]] == clean_sqlite_schema
    with db.make_engine(url).connect() as connection:
        assert connection.execute(text("SELECT id FROM other_app")).scalars().all() == [7]


def test_tables_of_ours_with_rows_but_no_version_are_refused_and_left_as_they_are(tmp_path):
    url = f"sqlite:///{tmp_path}/versionless.db"
    config = _config(tmp_path / "mailbridge.toml", url)
    _cut_first_upgrade_of_old_versions(url)
    with db.make_engine(url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO contact (name, email, save_messages, created_at) VALUES ('Sales', 's@x.example', 1, '2026')"
            )
        )
    result = run_cli("db", "upgrade", config=config)
    assert result.returncode == 1
    assert "tables with rows (contact) but no mailbridge schema version" in result.stderr
    with db.make_engine(url).connect() as connection:
        assert connection.execute(text("SELECT name FROM contact")).scalars().all() == ["Sales"]


def _postgres_schema(server, database: str) -> str:
    """pg_dump's schema of a database, without its comments and per-run lines."""
    dump = subprocess.run(
        [str(server.pg_bin / "pg_dump"), "--schema-only", "--no-owner", "-h", server.host, "-p", str(server.port)]
        + ["-U", "mailbridge", database],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    kept = [line for line in dump.splitlines() if line and not re.match(r"--|\\(un)?restrict ", line)]
    assert any(line.startswith("CREATE TABLE public.ticket ") for line in kept)
    return "\n".join(kept)


@pytest.fixture(scope="module")
def clean_postgres_schema(postgres) -> str:
    db.upgrade_schema(db.make_engine(postgres.create_database("cleanschema")))
    return _postgres_schema(postgres, "cleanschema")


# The first migration's stamp, PostgreSQL's full-text index, a middle migration's stamp, the last one's.
_PG_POINTS = [_stamped("0001"), r"CREATE INDEX ix_message_fulltext", _stamped("0009"), _stamped("0012")]


@pytest.mark.parametrize("pattern", _PG_POINTS)
def test_postgres_upgrade_killed_part_way_is_completed_by_the_next_one(
    pattern, postgres, tmp_path, clean_postgres_schema
):
    name = f"killed{_PG_POINTS.index(pattern)}"
    url = postgres.create_database(name)
    config = _config(tmp_path / "mailbridge.toml", url)
    _upgrade_killed_after(pattern, config)
    assert db.schema_revisions(db.make_engine(url)) == frozenset()
    result = run_cli("db", "upgrade", config=config)
    assert result.returncode == 0, result.stderr
    assert _postgres_schema(postgres, name) == clean_postgres_schema
