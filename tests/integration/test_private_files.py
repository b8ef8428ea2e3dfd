"""Issue 16: the database (with SQLite's -wal and -shm files), the health file and reports are created 0600
whatever the umask, since they hold customers' mail and addresses."""

from __future__ import annotations

import os
import stat

import pytest

from mailbridge.base.files import replace_private, write_private
from tests.conftest import SUPPORT_USER, customer_mail, run_cli


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_write_private_makes_even_an_existing_file_private(tmp_path, open_umask):
    path = tmp_path / "report.html"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_private(path, "new")
    assert (mode(path), path.read_text()) == (0o600, "new")
    replace_private(tmp_path / "health.json", "{}")
    assert mode(tmp_path / "health.json") == 0o600 and not list(tmp_path.glob(".*.tmp"))


def test_database_health_file_and_html_report_are_private(config_file, dovecot, mailbox, tmp_path, open_umask):
    config = config_file(db_url=f"sqlite:///{tmp_path}/data/mailbridge.db", schema=False)
    assert run_cli("db", "upgrade", config=config).returncode == 0
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    health = tmp_path / "health.json"
    result = run_cli("run", "--once", "--health-file", str(health), config=config)
    assert result.returncode == 0, result.stderr
    database = tmp_path / "data" / "mailbridge.db"
    written = [database, health] + [p for p in database.parent.iterdir() if p.name.startswith("mailbridge.db-")]
    assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}
    report = tmp_path / "stats.html"
    assert run_cli("stats", "--html", str(report), config=config).returncode == 0
    assert mode(report) == 0o600
