"""The `mailbridge` command: one Typer sub-app per file, one error handler here.

Errors are one readable line on stderr and a non-zero exit: 2 for configuration, 1 otherwise.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from mailbridge import __version__
from mailbridge.base.errors import ConfigError, MailbridgeError

# Every sub-command: name -> (module, attribute, help), a Typer sub-app or one command function, in the order
# `--help` lists them. A command line imports only the module of the command it runs (the modules pull in the
# database, IMAP and SMTP libraries); the root `--help` lists the names and help texts from this table alone
# (tests/unit/test_cli_lazy.py checks that they match the commands), and the reference generator imports them all.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": (
        "mailbridge.cli.setup.init_cmd",
        "init",
        "Write mailbridge.toml and the database for a new installation, after testing IMAP and SMTP.",
    ),
    "run": (
        "mailbridge.cli.operate.run_cmd",
        "run",
        "Run the daemon: poll mailboxes and send the outbox on a schedule; SIGHUP reloads, SIGTERM stops.",
    ),
    "status": (
        "mailbridge.cli.operate.status_cmd",
        "status",
        "Show whether every mailbox syncs and how much mail waits to be sent.",
    ),
    "stats": (
        "mailbridge.cli.operate.stats_cmd",
        "stats",
        "Show tickets opened, closed and reopened, backlog, response and resolution times, SLA and CSAT.",
    ),
    "ingest": (
        "mailbridge.cli.operate.ingest_cmd",
        "ingest",
        "Store mail handed over by an MTA on stdin, or import .eml files, Maildirs and mbox files as history.",
    ),
    "config": ("mailbridge.cli.setup.config_cmd", "app", "Check the configuration."),
    "db": ("mailbridge.cli.setup.db_cmd", "app", "Database schema."),
    "tickets": ("mailbridge.cli.operate.tickets_cmd", "app", "Tickets."),
    "customers": ("mailbridge.cli.operate.customers_cmd", "app", "Customers."),
    "outbox": ("mailbridge.cli.operate.outbox_cmd", "app", "Outgoing mail."),
    "messages": ("mailbridge.cli.operate.messages_cmd", "app", "Flagged messages."),
    "templates": ("mailbridge.cli.setup.templates_cmd", "app", "Mail templates."),
    "smtp": ("mailbridge.cli.setup.smtp_cmd", "app", "The SMTP side."),
    "mailboxes": (
        "mailbridge.cli.setup.mailboxes_cmd",
        "app",
        "IMAP mailboxes: list, test, audit, add, remove, import.",
    ),
    "imap": ("mailbridge.cli.setup.mailboxes_cmd", "imap_app", "The IMAP side (alias of `mailboxes`)."),
    "agents": ("mailbridge.cli.setup.agents_cmd", "app", "Agents."),
    "contacts": (
        "mailbridge.cli.setup.contacts_cmd",
        "app",
        "Departments (Contacts) such as Customer service or Webmaster.",
    ),
    "texts": ("mailbridge.cli.setup.texts_cmd", "app", "Text modules (canned answers) of the Contacts."),
    "secret": ("mailbridge.cli.setup.secret_cmd", "app", "The reply-token secret: rotate it."),
}
_TAKES_VALUE = {"--config", "-c"}  # root options followed by a value


def make_app(names: list[str] | None = None, *, listing: bool = False) -> typer.Typer:
    """Build the `mailbridge` Typer app with the named sub-commands (None: all of them).

    listing=True registers each command by its name and help only, importing nothing: enough for the root `--help`.
    """
    root_app = typer.Typer(
        no_args_is_help=True,
        help="mailbridge: every customer email becomes a ticket.",
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    root_app.callback()(root)
    for name in COMMANDS if names is None else names:
        module, attribute, help_text = COMMANDS[name]
        if listing:
            root_app.command(name, help=help_text)(_listed)
            continue
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            root_app.add_typer(target, name=name)
        else:
            root_app.command(name)(target)
    return root_app


def _listed() -> None:
    """A command shown in the root help only; never run (main builds the real one when it is named)."""


def command_named(args: list[str]) -> str | None:
    """The sub-command a command line runs (the first word after the root options), or None."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _TAKES_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def __getattr__(name: str) -> typer.Typer:
    """`mailbridge.cli.app`: the whole app, for the reference generator and shell completion."""
    if name == "app":
        return make_app()
    raise AttributeError(name)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailbridge {__version__}")
        raise typer.Exit()


def root(
    config: str = typer.Option(
        None, "--config", "-c", help="Path to mailbridge.toml (else $MAILBRIDGE_CONFIG, else ./mailbridge.toml)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug lines."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Support mailbox daemon and admin tool."""
    from mailbridge.cli.common import state  # here: it loads the configuration code, which `--help` never needs

    state.config_path = config
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # mail-parser logs a warning for every non-text part; those are normal attachments to us.
    logging.getLogger("mailparser").setLevel(logging.ERROR)
    # alembic says which dialect it uses on every schema upgrade: what happened is logged by us (mail stored, sent,
    # failed, a mailbox state change).
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


def main() -> None:
    """Entry point: run the CLI and turn our errors into one line and an exit code."""
    args = sys.argv[1:]
    if command_named(args) is None and "--version" in args:
        typer.echo(f"mailbridge {__version__}")  # without loading a single sub-command
        return
    try:
        name = command_named(args)
        if name in COMMANDS:
            app = make_app([name])
        else:  # the root help, or an unknown command (click names it); shell completion needs every command
            app = make_app(listing=not os.environ.get("_MAILBRIDGE_COMPLETE"))
        # Without standalone mode, click returns the code of a `typer.Exit(code)` instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except ConfigError as exc:
        typer.echo(f"mailbridge: error: {exc}", err=True)
        sys.exit(2)
    except MailbridgeError as exc:
        typer.echo(f"mailbridge: error: {exc}", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("mailbridge: aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: one line, never a traceback
        # Usage errors (missing argument, unknown option) are click exceptions; typer may bundle its own click.
        message, exit_code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
        if callable(message) and isinstance(exit_code, int):
            context = getattr(exc, "ctx", None)
            hint = f" (try '{context.command_path} --help')" if context is not None else ""
            typer.echo(f"mailbridge: error: {message()}{hint}", err=True)
            sys.exit(exit_code)
        typer.echo(f"mailbridge: unexpected error: {type(exc).__name__}: {exc} (run with -v for details)", err=True)
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        sys.exit(1)
