"""Shared fixtures: the clock, a configuration file pointed at the test servers, the app, and helpers
that put mail in place and run the daemon step by step (the same functions the scheduler calls).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from mailbridge.runtime.app import App, build_app
from mailbridge.base.clock import FixedClock
from mailbridge.base.config.settings import load_settings
from mailbridge.runtime.jobs import run_cycle

pytest_plugins = ["tests.servers.pytest_plugin"]

REPO = Path(__file__).resolve().parent.parent
SUPPORT_USER = "support@shop.example"
IMAP_PASSWORD_ENV = "MAILBRIDGE_TEST_IMAP_PASSWORD"
SECRET_ENV = "MAILBRIDGE_TEST_SECRET"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def toml_config(*, db_url: str, smtp_port: int, imap_port: int, folder: str, ca_file: str | None,
                security: str = "ssl", initial_sync: str = "import", extra_mailbox: str = "", extra: str = "") -> str:
    ca_line = f'ca_file = "{ca_file}"\n' if ca_file else ""
    return f"""
[database]
url = "{db_url}"

[support]
from_name = "Shop support"
from_address = "{SUPPORT_USER}"
secret_env = "{SECRET_ENV}"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
timeout_seconds = 5

[[mailboxes]]
name = "support"
host = "127.0.0.1"
port = {imap_port}
security = "{security}"
{ca_line}username = "{SUPPORT_USER}"
password_env = "{IMAP_PASSWORD_ENV}"
folder = "{folder}"
contact = "Customer service"
initial_sync = "{initial_sync}"
timeout_seconds = 5
{extra_mailbox}
{extra}
"""


@pytest.fixture
def config_file(tmp_path, dovecot, sink, mailbox, monkeypatch) -> Callable[..., Path]:
    """Write a mailbridge.toml for the test servers; keywords override parts of it."""
    monkeypatch.setenv(IMAP_PASSWORD_ENV, dovecot.password)
    monkeypatch.setenv(SECRET_ENV, "test-secret-for-reply-tokens")

    def write(db_url: str | None = None, **overrides) -> Path:
        options = dict(db_url=db_url or f"sqlite:///{tmp_path}/mailbridge.db", smtp_port=sink.port,
                       imap_port=dovecot.imaps_port, folder=mailbox, ca_file=dovecot.ca_file)
        options.update(overrides)
        path = tmp_path / "mailbridge.toml"
        path.write_text(toml_config(**options), encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_app(config_file, clock) -> Callable[..., App]:
    """Build an App from the test configuration with the fixed clock."""

    def build(**overrides) -> App:
        return build_app(load_settings(config_file(**overrides)), clock=clock)

    return build


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_app(request, make_app) -> App:
    """An App on SQLite, then on a fresh database of the test PostgreSQL."""
    if request.param == "sqlite":
        return make_app()
    server = request.getfixturevalue("postgres")
    return make_app(db_url=server.create_database(f"t{abs(hash(request.node.nodeid)) % 10**8}"))


def run_once(app: App):
    """One full daemon cycle: poll every mailbox, send what is due."""
    return asyncio.run(run_cycle(app))


def customer_mail(*, sender: str = "anna@example.org", name: str = "Anna Rossi", subject: str = "Order 1234 not arrived",
                  body: str = "Hello, my order has not arrived yet.", in_reply_to: str | None = None,
                  headers: dict[str, str] | None = None, attachment: tuple[str, bytes, str] | None = None) -> bytes:
    """Build a customer email as bytes with CRLF line ends."""
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>"
    message["To"] = SUPPORT_USER
    message["Subject"] = subject
    message["Date"] = format_datetime(FixedClock().now())
    message["Message-ID"] = make_msgid(domain="example.org")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content(body)
    if attachment:
        filename, payload, mime = attachment
        maintype, subtype = mime.split("/")
        message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def run_cli(*args: str, config: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real `mailbridge` command in a subprocess and capture its output."""
    full_env = {**os.environ, **(env or {})}
    command = [sys.executable, "-m", "mailbridge"]
    if config:
        command += ["--config", str(config)]
    return subprocess.run(command + list(args), capture_output=True, text=True, env=full_env, cwd=REPO, timeout=120)
