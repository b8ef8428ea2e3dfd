"""`mailbridge init`: ask (or take flags for) the support address, IMAP and SMTP, test both, write
a commented mailbridge.toml and create the database. `--yes` never asks, so it can be scripted.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

from mailbridge.base.config.settings import Settings, find_config, load_settings
from mailbridge.base.config.starter import InitAnswers, render_initial_config
from mailbridge.base.errors import CommandError, ConfigError, SourceError
from mailbridge.base.files import write_private
from mailbridge.cli.common import state
from mailbridge.ingest.sources.probe import probe_mailbox
from mailbridge.outbox.smtp import probe as probe_smtp
from mailbridge.runtime.app import build_app


def _ask(value, label: str, option: str, default, yes: bool, cast=str):
    if value is not None:
        return value
    if yes:
        if default is None:
            raise CommandError(f"{option}: required with --yes")
        return default
    answer = typer.prompt(label, default="" if default is None else str(default), show_default=default is not None)
    return cast(answer) if answer != "" else None


def _refuse_missing_variables(answers: InitAnswers) -> None:
    missing = [name for name in answers.secret_variables if name not in os.environ]
    if missing:
        raise CommandError(
            f"set the environment variable(s) {', '.join(missing)} first; secrets are never written to mailbridge.toml"
        )


def _test_connections(settings: Settings) -> None:
    mailbox = settings.mailboxes[0]
    found = probe_mailbox(mailbox)
    if found.missing:
        raise SourceError(f"mailbox {mailbox.name!r}: folder {found.missing[0]!r} does not exist on the server")
    typer.echo(
        f"ok  IMAP {mailbox.connection.host}:{mailbox.connection.port}: logged in, "
        f"{found.folders[mailbox.folder]} messages in {mailbox.folder}"
    )
    asyncio.run(
        probe_smtp(
            settings.smtp.connection,
            mail_from=settings.support.from_address,
            recipient="",
            raw=None,
            report=lambda line: typer.echo(f"ok  SMTP {line}"),
        )
    )


def _write_config(path: Path, text: str, test: bool) -> Settings:
    candidate = path.with_name(f".{path.name}.new")
    write_private(candidate, text)
    try:
        settings = load_settings(candidate)
        if test:
            _test_connections(settings)
    except ConfigError as exc:
        candidate.unlink()
        raise ConfigError(str(exc).replace(str(candidate), str(path))) from None
    except BaseException:
        candidate.unlink()
        raise
    candidate.chmod(0o640)
    os.replace(candidate, path)
    return load_settings(path)


def init(
    support_address: str = typer.Option(None, "--support-address", help="Address customers write to."),
    from_name: str = typer.Option(None, "--from-name", help="Display name on our mail (Support)."),
    imap_host: str = typer.Option(None, "--imap-host", help="IMAP server."),
    imap_port: int = typer.Option(None, "--imap-port", help="Default follows --imap-security."),
    imap_security: str = typer.Option(None, "--imap-security", help="ssl | starttls | plain (ssl)."),
    imap_username: str = typer.Option(None, "--imap-username", help="IMAP login (the support address)."),
    imap_password_env: str = typer.Option(None, "--imap-password-env", help="Variable holding the IMAP password."),
    imap_ca_file: str = typer.Option(None, "--imap-ca-file", help="PEM file of a private CA."),
    imap_folder: str = typer.Option(None, "--imap-folder", help="Folder to read (INBOX)."),
    initial_sync: str = typer.Option(None, "--initial-sync", help="new-only | import-silently | import."),
    smtp_host: str = typer.Option(None, "--smtp-host", help="SMTP server."),
    smtp_port: int = typer.Option(None, "--smtp-port", help="Default follows --smtp-security."),
    smtp_security: str = typer.Option(None, "--smtp-security", help="ssl | starttls | plain (starttls)."),
    smtp_username: str = typer.Option(None, "--smtp-username", help="SMTP AUTH user (none: no AUTH)."),
    smtp_password_env: str = typer.Option(None, "--smtp-password-env", help="Variable holding the SMTP password."),
    smtp_ca_file: str = typer.Option(None, "--smtp-ca-file", help="PEM file of a private CA."),
    database_url: str = typer.Option(
        None, "--database-url", help="sqlite:///mailbridge.db or postgresql+psycopg://..."
    ),
    secret_env: str = typer.Option(None, "--secret-env", help='Variable holding the reply-token secret; "" for none.'),
    test: bool = typer.Option(True, "--test/--no-test", help="Test the IMAP and SMTP connections first."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing configuration file."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Ask nothing: take flags and defaults."),
) -> None:
    """Write mailbridge.toml and the database for a new installation, after testing IMAP and SMTP.

    Example: mailbridge init --yes --support-address support@shop.example --imap-host imap.shop.example --smtp-host smtp.shop.example
    """
    path = find_config(state.config_path)
    if path.exists() and not force:
        raise CommandError(f"{path} exists already; use --force to overwrite it")
    address = _ask(support_address, "Support address", "--support-address", None, yes)
    answers = InitAnswers(
        support_address=address,
        from_name=_ask(from_name, "Display name", "--from-name", "Support", yes),
        database_url=_ask(database_url, "Database URL", "--database-url", "sqlite:///mailbridge.db", yes),
        secret_env=_ask(secret_env, "Variable with the reply-token secret", "--secret-env", "MAILBRIDGE_SECRET", yes)
        or None,
        imap_host=_ask(imap_host, "IMAP host", "--imap-host", None, yes),
        imap_port=_ask(imap_port, "IMAP port (empty: default)", "--imap-port", "", yes, int) or None,
        imap_security=_ask(imap_security, "IMAP security", "--imap-security", "ssl", yes),
        imap_username=_ask(imap_username, "IMAP username", "--imap-username", address, yes),
        imap_password_env=_ask(
            imap_password_env, "Variable with the IMAP password", "--imap-password-env", "MAILBRIDGE_IMAP_PASSWORD", yes
        ),
        imap_ca_file=_ask(imap_ca_file, "IMAP CA file (empty: system CAs)", "--imap-ca-file", "", yes) or None,
        imap_folder=_ask(imap_folder, "IMAP folder", "--imap-folder", "INBOX", yes),
        initial_sync=_ask(
            initial_sync,
            "Mail already in the folder: new-only | import-silently | import",
            "--initial-sync",
            "new-only",
            yes,
        ),
        smtp_host=_ask(smtp_host, "SMTP host", "--smtp-host", None, yes),
        smtp_port=_ask(smtp_port, "SMTP port (empty: default)", "--smtp-port", "", yes, int) or None,
        smtp_security=_ask(smtp_security, "SMTP security", "--smtp-security", "starttls", yes),
        smtp_username=_ask(smtp_username, "SMTP username (empty: no AUTH)", "--smtp-username", "", yes) or None,
        smtp_password_env=smtp_password_env or "MAILBRIDGE_SMTP_PASSWORD",
        smtp_ca_file=_ask(smtp_ca_file, "SMTP CA file (empty: system CAs)", "--smtp-ca-file", "", yes) or None,
    )
    _refuse_missing_variables(answers)
    settings = _write_config(path, render_initial_config(answers), test)
    build_app(settings, create_contacts=True)  # a new installation: the Contact its mailbox names is created here
    typer.echo(f"wrote {path} and the database {settings.database.shown_url}")
    typer.echo(f"set {', '.join(answers.secret_variables)} wherever mailbridge runs (systemd: EnvironmentFile)")
    typer.echo(f"next: mailbridge --config {path} run --once")
