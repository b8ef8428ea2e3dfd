"""Issue 17: only `run`, `init` and `db upgrade` change the schema; every other command on an older one says which
command to run, in one line, and exits non-zero, without loading alembic. Issue 18: PostgreSQL's large columns use
lz4."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text
from sqlmodel import Session

from mailbridge.store import db
from mailbridge.store.models import Message
from tests.conftest import run_cli as run_cli_result


def run_cli(*args: str, config) -> tuple[int, str, str]:
    result = run_cli_result(*args, config=config)
    return result.returncode, result.stdout, result.stderr


def _upgrade_to(url: str, revision: str) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    with db.make_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_schema_heads_are_what_alembic_writes_after_every_migration(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path}/fresh.db")
    assert db.upgrade_schema(engine) == frozenset()
    assert db.schema_revisions(engine) == db.schema_heads()
    assert db.upgrade_schema(engine) == db.schema_heads()  # a second run changes nothing


def test_no_plain_index_is_a_leading_part_of_another_index_of_its_table(tmp_path):
    # Migration 0029: such an index finds nothing the longer one does not, and costs an entry per row written.
    engine = db.make_engine(f"sqlite:///{tmp_path}/fresh.db")
    db.upgrade_schema(engine)
    redundant = []
    with engine.connect() as connection:
        tables = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all()
        for table in tables:
            indexes = {
                name: (unique, [r[2] for r in connection.execute(text(f"PRAGMA index_info('{name}')"))])
                for _seq, name, unique, *_rest in connection.execute(text(f"PRAGMA index_list('{table}')"))
            }
            for name, (unique, columns) in indexes.items():
                longer = [o for o, (_u, c) in indexes.items() if o != name and len(c) > len(columns)]
                if not unique and any(indexes[o][1][: len(columns)] == columns for o in longer):
                    redundant.append(f"{table}.{name} {columns}")
    assert len(tables) > 20
    assert redundant == []


def test_a_new_database_is_created_only_by_the_commands_that_upgrade(config_file, tmp_path):
    config = config_file(schema=False)
    code, out, err = run_cli("tickets", "list", config=config)
    assert code == 1 and out == ""
    assert err.strip() == (
        "mailbridge: error: the database has no tables yet: run `mailbridge init` or `mailbridge db upgrade` first"
    )
    code, out, err = run_cli("db", "upgrade", config=config)
    assert code == 0 and out.startswith("schema upgraded from no tables to ")
    assert "INFO" not in err  # alembic's dialect and "Running upgrade" lines are debug output
    assert run_cli("tickets", "list", config=config)[0] == 0
    code, out, _ = run_cli("db", "upgrade", config=config)
    assert code == 0 and out.startswith("schema already current")


def test_an_older_schema_names_the_command_and_is_left_as_it_is(config_file, tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    config = config_file(db_url=url, schema=False)
    _upgrade_to(url, "0010")
    before = db.schema_revisions(db.make_engine(url))
    for args in (("status",), ("tickets", "list"), ("outbox", "list"), ("agents", "list")):
        code, out, err = run_cli(*args, config=config)
        [line] = err.strip().splitlines()
        assert code == 1 and "is older than this version's" in line and "run `mailbridge db upgrade`" in line, args
    assert db.schema_revisions(db.make_engine(url)) == before
    code, out, _ = run_cli("db", "upgrade", config=config)
    assert code == 0 and "schema upgraded from" in out
    assert db.schema_revisions(db.make_engine(url)) == db.schema_heads()


def test_a_schema_a_later_version_upgraded_says_to_upgrade_mailbridge_not_the_database(config_file, tmp_path):
    # A newer mailbridge ran `db upgrade` (its revision 9001 follows our head), then this older one is started.
    url = f"sqlite:///{tmp_path}/newer.db"
    config = config_file(db_url=url, schema=False)
    engine = db.make_engine(url)
    db.upgrade_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9001'"))
    for args in (("status",), ("tickets", "list"), ("run", "--once"), ("db", "upgrade")):
        code, out, err = run_cli(*args, config=config)
        [line] = err.strip().splitlines()
        assert code == 1 and "(9001) is newer than this version of mailbridge" in line, (args, line)
        assert line.endswith(": upgrade mailbridge"), line
    assert db.schema_revisions(engine) == frozenset({"9001"}), "left as it is"


def test_postgres_compresses_the_mail_bytes_with_lz4_and_reads_them_back(postgres):
    # Migration 0028: the large columns use lz4 (a tenth of PostgreSQL's CPU went to pglz in bench/fleet).
    engine = db.make_engine(postgres.create_database("lz4check"))
    db.upgrade_schema(engine)
    with engine.begin() as connection:
        methods = dict(
            connection.execute(
                text(
                    "SELECT c.relname || '.' || a.attname, a.attcompression FROM pg_attribute a "
                    "JOIN pg_class c ON c.oid = a.attrelid WHERE a.attcompression <> ''"
                )
            ).all()
        )
        raw = b"Subject: big\r\n\r\n" + b"the same line of a long log, again and again\r\n" * 4000
    with Session(engine) as session:
        session.add(
            Message(subject="big", raw=raw, raw_sha256="x", text_body=raw.decode(), stored_at=datetime.now(UTC))
        )
        session.commit()
    with engine.connect() as connection:
        stored, method = connection.execute(
            text("SELECT raw, pg_column_compression(raw) FROM message WHERE subject = 'big'")
        ).one()
        version = int(connection.exec_driver_sql("SHOW server_version_num").scalar_one())
        with_lz4 = (
            version >= 140000
            and connection.exec_driver_sql(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
            ).scalar()
        )
    engine.dispose()
    if not with_lz4:  # PostgreSQL before 14, or built without lz4: the migration kept pglz and said so
        assert methods == {} and bytes(stored) == raw
        return
    assert methods == {
        "message.raw": "l",
        "message.text_body": "l",
        "message.stripped_text": "l",
        "message.html_body": "l",
        "outboxmail.raw": "l",
        "attachment.content": "l",
    }
    assert bytes(stored) == raw and method == "lz4"
