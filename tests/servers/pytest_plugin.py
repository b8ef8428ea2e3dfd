"""pytest fixtures around the real-server helpers: certs, dovecot, smtp_sink/sink, postgres, mailbox.

Load with `-p tests.servers.pytest_plugin` or `pytest_plugins = ["tests.servers.pytest_plugin"]`.
Every server is started once per session under tmp_path_factory and stopped at session end.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from .certs import Certs, make_certs
from .dovecot import DovecotServer, start_dovecot
from .postgres import PostgresServer, find_pg_bin, start_postgres
from .smtp_sink import SmtpSink, start_smtp_sink

SUPPORT_USER = "support@shop.example"
_folder_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certs:
    """CA, server certificate for 127.0.0.1/localhost, and an unrelated CA."""
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory) -> Iterator[DovecotServer]:
    """A Dovecot with IMAPS and STARTTLS listeners and the user support@shop.example."""
    server = start_dovecot(tmp_path_factory.mktemp("dovecot"))
    try:
        server.add_user(SUPPORT_USER)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot_plain(tmp_path_factory) -> Iterator[DovecotServer]:
    """A second Dovecot with `ssl = no`: one plaintext listener that does not offer STARTTLS."""
    server = start_dovecot(tmp_path_factory.mktemp("dovecot-plain"), tls=False)
    try:
        server.add_user(SUPPORT_USER)
        yield server
    finally:
        server.stop()


@pytest.fixture
def mailbox(dovecot) -> str:
    """A fresh folder (T1, T2, ...) of support@shop.example, so tests never see each other's mail."""
    folder = f"T{next(_folder_numbers)}"
    dovecot.create_folder(SUPPORT_USER, folder)
    return folder


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """A plain SMTP sink (no TLS, no AUTH, no delivery) shared by the session."""
    sink = start_smtp_sink()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def sink(smtp_sink) -> Iterator[SmtpSink]:
    """The session's SMTP sink, emptied of messages and pending failures."""
    smtp_sink.clear()
    yield smtp_sink
    smtp_sink.clear()


def _running_postgres(where) -> Iterator[PostgresServer]:
    """Start a PostgreSQL cluster under `where` and stop it after; skipped without binaries unless CI is set."""
    try:
        find_pg_bin()
    except RuntimeError as exc:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI is set but {exc}", pytrace=False)
        pytest.skip(str(exc))
    server = start_postgres(where)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster with database mailbridge; skipped without binaries unless CI is set."""
    yield from _running_postgres(tmp_path_factory.mktemp("postgres"))


@pytest.fixture
def own_postgres(tmp_path) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for one test alone, for a test that stops and starts it."""
    yield from _running_postgres(tmp_path / "pg")
