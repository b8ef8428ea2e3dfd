"""The `mailbridge` command: one Typer sub-app per file, one error handler here.

Errors are one readable line on stderr and a non-zero exit: 2 for configuration, 1 otherwise.
"""

from __future__ import annotations

import logging
import sys

import typer

from mailbridge import __version__
from mailbridge.base.errors import ConfigError, MailbridgeError
from mailbridge.cli.common import state
from mailbridge.cli.operate import (
    customers_cmd,
    ingest_cmd,
    messages_cmd,
    outbox_cmd,
    run_cmd,
    stats_cmd,
    status_cmd,
    tickets_cmd,
)
from mailbridge.cli.setup import (
    agents_cmd,
    config_cmd,
    contacts_cmd,
    db_cmd,
    init_cmd,
    mailboxes_cmd,
    smtp_cmd,
    templates_cmd,
    texts_cmd,
)

app = typer.Typer(
    no_args_is_help=True, help="mailbridge: every customer email becomes a ticket.", pretty_exceptions_enable=False
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
app.add_typer(tickets_cmd.app, name="tickets")
app.add_typer(customers_cmd.app, name="customers")
app.add_typer(outbox_cmd.app, name="outbox")
app.add_typer(messages_cmd.app, name="messages")
app.add_typer(templates_cmd.app, name="templates")
app.add_typer(smtp_cmd.app, name="smtp")
app.add_typer(mailboxes_cmd.app, name="mailboxes")
app.add_typer(mailboxes_cmd.imap_app, name="imap")
app.add_typer(agents_cmd.app, name="agents")
app.add_typer(contacts_cmd.app, name="contacts")
app.add_typer(texts_cmd.app, name="texts")
app.command("init")(init_cmd.init)
app.command("run")(run_cmd.run)
app.command("status")(status_cmd.status)
app.command("stats")(stats_cmd.stats)
app.command("ingest")(ingest_cmd.ingest)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailbridge {__version__}")
        raise typer.Exit()


@app.callback()
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
    state.config_path = config
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # mail-parser logs a warning for every non-text part; those are normal attachments to us.
    logging.getLogger("mailparser").setLevel(logging.ERROR)


def main() -> None:
    """Entry point: run the CLI and turn our errors into one line and an exit code."""
    try:
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
