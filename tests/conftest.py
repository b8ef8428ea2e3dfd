"""Shared fixtures: the clock, a configuration file pointed at the test servers, the app, and helpers
that put mail in place and run the daemon step by step (the same functions the scheduler calls).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import chdir
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from unittest.mock import patch

import pytest
from typer.testing import CliRunner

from mailbridge.base.clock import Clock, FixedClock
from mailbridge.base.config.settings import load_settings
from mailbridge.base.logs import TEXT_FORMAT
from mailbridge.cli import main
from mailbridge.cli.common import CliState, state
from mailbridge.runtime.app import App, build_app
from mailbridge.runtime.jobs import run_cycle
from mailbridge.store import db

pytest_plugins = ["tests.servers.pytest_plugin"]

REPO = Path(__file__).resolve().parent.parent
SUPPORT_USER = "support@shop.example"
IMAP_PASSWORD_ENV = "MAILBRIDGE_TEST_IMAP_PASSWORD"
SECRET_ENV = "MAILBRIDGE_TEST_SECRET"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def toml_config(
    *,
    db_url: str,
    smtp_port: int,
    imap_port: int,
    folder: str,
    ca_file: str | None,
    security: str = "ssl",
    initial_sync: str = "import",
    extra_mailbox: str = "",
    extra: str = "",
    extra_support: str = "",
    username: str = SUPPORT_USER,
    create_contact: bool = True,
) -> str:
    ca_line = f'ca_file = "{ca_file}"\n' if ca_file else ""
    text = f"""
[database]
url = "{db_url}"

[support]
from_name = "Shop support"
from_address = "{SUPPORT_USER}"
secret_env = "{SECRET_ENV}"
{extra_support}

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
{ca_line}username = "{username}"
password_env = "{IMAP_PASSWORD_ENV}"
folder = "{folder}"
contact = "Customer service"
create_contact = {str(create_contact).lower()}
initial_sync = "{initial_sync}"
timeout_seconds = 5
{extra_mailbox}
{extra}
"""
    return with_no_send_delay(text)


def with_no_send_delay(text: str) -> str:
    """Relay agents' answers at once (`[agents] send_delay_seconds = 0`), as the tests expect, unless the text sets
    the delay itself: the product's default is a 60-second undo window."""
    if "send_delay_seconds" in text:
        return text
    if "\n[agents]\n" in text:
        return text.replace("\n[agents]\n", "\n[agents]\nsend_delay_seconds = 0\n", 1)
    return text + "\n[agents]\nsend_delay_seconds = 0\n"


def mailbox_toml(dovecot, name: str, folder: str, contact: str = "Customer service", extra: str = "") -> str:
    """One more `[[mailboxes]]` table: a folder of the support account on the test Dovecot (TLS with the test CA),
    its mail imported at the first poll; `extra` adds keys to the table."""
    return f"""
[[mailboxes]]
name = "{name}"
host = "127.0.0.1"
port = {dovecot.imaps_port}
security = "ssl"
ca_file = "{dovecot.ca_file}"
username = "{SUPPORT_USER}"
password_env = "{IMAP_PASSWORD_ENV}"
folder = "{folder}"
contact = "{contact}"
create_contact = true
initial_sync = "import"
{extra}"""


@pytest.fixture
def config_file(tmp_path, dovecot, sink, mailbox, monkeypatch) -> Callable[..., Path]:
    """Write a mailbridge.toml for the test servers; keywords override parts of it."""
    monkeypatch.setenv(IMAP_PASSWORD_ENV, dovecot.password)
    monkeypatch.setenv(SECRET_ENV, "test-secret-for-reply-tokens")

    def write(db_url: str | None = None, *, schema: bool = True, **overrides) -> Path:
        """schema=True: the database has this version's schema, as after `mailbridge init` (False: no tables)."""
        options = dict(
            db_url=db_url or f"sqlite:///{tmp_path}/mailbridge.db",
            smtp_port=sink.port,
            imap_port=dovecot.imaps_port,
            folder=mailbox,
            ca_file=dovecot.ca_file,
        )
        options.update(overrides)
        path = tmp_path / "mailbridge.toml"
        path.write_text(toml_config(**options), encoding="utf-8")
        if schema:
            db.upgrade_schema(db.make_engine(options["db_url"]))
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


def customer_mail(
    *,
    sender: str = "anna@example.org",
    name: str = "Anna Rossi",
    subject: str = "Order 1234 not arrived",
    body: str = "Hello, my order has not arrived yet.",
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    attachment: tuple[str, bytes, str] | None = None,
) -> bytes:
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


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(
    *args: str,
    config: Path | None = None,
    env: dict[str, str | None] | None = None,
    clock: Clock | None = None,
    cwd: Path | None = None,
    input: str | None = None,
) -> CliResult:
    """Run `mailbridge ARGS` in this process through the real entry point (its error lines and exit codes).

    env overrides variables for the call (None unsets one); clock, when given, is the app's clock; input is what the
    user types (stdin). Log lines go to stderr as in a real run, except those of the test servers' threads; logging
    and the CLI state are restored after.
    """
    argv = ["mailbridge", *(["--config", str(config)] if config else []), *args]
    root = logging.getLogger()
    handlers, level = root.handlers, root.level
    servers = {thread.ident for thread in threading.enumerate()} - {threading.get_ident()}
    state.clock = clock
    with (
        CliRunner().isolation(input=input, env=env) as (out, err, _),
        chdir(cwd or REPO),
        patch.object(sys, "argv", argv),
    ):
        log = logging.StreamHandler(sys.stderr)  # what main's logging.basicConfig sets up in a real run
        log.setFormatter(logging.Formatter(TEXT_FORMAT))
        log.addFilter(lambda record: record.thread not in servers)
        root.handlers, root.level = [log], logging.INFO
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            root.handlers, root.level = handlers, level
            vars(state).update(vars(CliState()))
        sys.stdout.flush()
        sys.stderr.flush()
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())


def run_cli_process(
    *args: str, config: Path | None = None, env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess:
    """Run the real `mailbridge` command in a subprocess (for tests of the process boundary)."""
    command = [sys.executable, "-m", "mailbridge", *(["--config", str(config)] if config else []), *args]
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=120
    )
