"""`mailbridge init`: ask (or take flags for) the support address, IMAP and SMTP, test both, write
a commented mailbridge.toml and create the database. `--yes` never asks, so it can be scripted.

A failed step (an unset variable, an invalid answer, a refused connection) is, when asking, tested again or its
answers edited with the earlier ones as defaults; nothing is written until every step passed.
"""

from __future__ import annotations

import os
import secrets
import shlex
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import typer

from mailbridge.base.config.settings import Settings, find_config, load_settings
from mailbridge.base.config.starter import DEFAULT_SECRET_FILE, InitAnswers, answers_as_flags, render_initial_config
from mailbridge.base.errors import (
    CommandError,
    ConfigError,
    MailbridgeError,
    PermanentDeliveryError,
    SourceError,
    TemporaryDeliveryError,
)
from mailbridge.base.files import write_private
from mailbridge.cli.common import state
from mailbridge.cli.setup.smtp_cmd import check_smtp_connection
from mailbridge.ingest.sources.probe import probe_mailbox
from mailbridge.runtime.app import build_app

SUPPORT_ADDRESS = object()  # a default that is the answer to "Support address"


@dataclass(frozen=True)
class Question:
    """One answer of InitAnswers: its prompt and default (None: required); optional ones may be none ("-")."""

    field: str
    label: str
    default: Any = None
    optional: bool = False
    number: bool = False
    flags: str = ""  # how --yes names the missing answer (empty: its own option)


def auth_questions(side: str, server: str) -> tuple[Question, ...]:
    """How a server (smtp, imap) is logged in to: password, or OAuth2 with a token command or a token file."""
    return (
        Question(
            f"{side}_auth", f"{server} login: password | xoauth2 | oauthbearer (Gmail, Microsoft 365)", "password"
        ),
        Question(
            f"{side}_oauth2_token_command",
            f"{server} OAuth2 token command, run at every login, its output the token (empty or -: a token file)",
            "",
            optional=True,
        ),
        Question(
            f"{side}_oauth2_token_file",
            f"{server} OAuth2 token file, re-read at every login",
            flags=f"--{side}-oauth2-token-command or --{side}-oauth2-token-file",
        ),
    )


QUESTIONS = (
    Question("support_address", "Support address"),
    Question("from_name", "Display name", "Support"),
    Question("admin_address", "Admin address for outage alerts (empty: none)", "", optional=True),
    Question("database_url", "Database URL", "sqlite:///mailbridge.db"),
    Question(
        "secret_file",
        "Reply-token secret file (made with a random secret if missing; - for none)",
        DEFAULT_SECRET_FILE,
        optional=True,
    ),
    Question("imap_host", "IMAP host"),
    Question("imap_port", "IMAP port (empty: the default of the security)", "", optional=True, number=True),
    Question("imap_security", "IMAP security: ssl | starttls | plain", "ssl"),
    Question("imap_username", "IMAP username", SUPPORT_ADDRESS),
    *auth_questions("imap", "IMAP"),
    Question("imap_password_env", "Variable with the IMAP password", "MAILBRIDGE_IMAP_PASSWORD"),
    Question("imap_ca_file", "IMAP CA file (empty: system CAs)", "", optional=True),
    Question("imap_folder", "IMAP folder", "INBOX"),
    Question("initial_sync", "Mail already in the folder: new-only | import-silently | import", "new-only"),
    Question("smtp_host", "SMTP host"),
    Question("smtp_port", "SMTP port (empty: the default of the security)", "", optional=True, number=True),
    Question("smtp_security", "SMTP security: ssl | starttls | plain", "starttls"),
    Question("smtp_username", "SMTP username (empty: no AUTH)", "", optional=True),
    *auth_questions("smtp", "SMTP"),
    Question("smtp_password_env", "Variable with the SMTP password", "MAILBRIDGE_SMTP_PASSWORD"),
    Question("smtp_ca_file", "SMTP CA file (empty: system CAs)", "", optional=True),
)
# The answers asked again when a step fails and the admin chooses to edit them.
PARTS = {
    "imap": (
        "imap_host",
        "imap_port",
        "imap_security",
        "imap_username",
        "imap_auth",
        "imap_oauth2_token_command",
        "imap_oauth2_token_file",
        "imap_password_env",
        "imap_ca_file",
    ),
    "smtp": (
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "smtp_username",
        "smtp_auth",
        "smtp_oauth2_token_command",
        "smtp_oauth2_token_file",
        "smtp_password_env",
        "smtp_ca_file",
    ),
    "variables": ("imap_password_env", "smtp_password_env", "secret_file"),
    "support": ("support_address", "from_name", "admin_address", "secret_file"),
    "database": ("database_url",),
    "answers": tuple(question.field for question in QUESTIONS),
}
PARTS["mailbox"] = (*PARTS["imap"], "imap_folder", "initial_sync")
PART_NAMES = {"imap": "IMAP", "mailbox": "mailbox", "smtp": "SMTP", "variables": "variable"}
PART_NAMES |= {"support": "support", "database": "database", "answers": "configuration"}
# The part of a configuration error, by the table it names ("mailbridge.toml: [smtp] port: ...").
TABLE_PARTS = {"[smtp]": "smtp", "[mailboxes.": "mailbox", "[support]": "support", "[database]": "database"}


class StepFailed(Exception):
    """A step of init failed: the part of the answers to edit, and the error to report."""

    def __init__(self, part: str, error: MailbridgeError):
        super().__init__(str(error))
        self.part, self.error = part, error


def _applies(question: Question, answers: dict[str, Any], again: tuple[str, ...] = ()) -> bool:
    side, _, key = question.field.partition("_")
    oauth2 = answers.get(f"{side}_auth") not in (None, "password")
    if question.field == "smtp_auth":
        return bool(answers.get("smtp_username"))
    if question.field == "smtp_password_env":
        return bool(answers.get("smtp_username")) and not oauth2
    if question.field == "imap_password_env":
        return not oauth2
    if key == "oauth2_token_command":
        # A token file given as a flag answers this one; asked again (edit), the command may replace the file.
        given = question.field in answers or question.field in again
        return oauth2 and (given or not answers.get(f"{side}_oauth2_token_file"))
    if key == "oauth2_token_file":
        return oauth2 and not answers.get(f"{side}_oauth2_token_command")
    if question.field == "secret_file":
        return answers.get("secret_env") is None
    return True


def _default(question: Question, answers: dict[str, Any], again: bool) -> Any:
    """The default shown: the current answer when asked again, else the question's own (None: required)."""
    if again and (answers.get(question.field) is not None or question.optional):
        return "" if answers.get(question.field) is None else answers[question.field]
    # Asked again without an answer (it did not apply before: a password after a token): the question's own.
    return answers.get("support_address") if question.default is SUPPORT_ADDRESS else question.default


def _read(question: Question, default: Any) -> Any:
    """Prompt until the answer fits: empty takes the default, "-" is none (where none is allowed)."""
    shown = None if default is None else str(default)
    while True:
        answer = typer.prompt(question.label, default=shown, show_default=bool(shown)).strip()
        if question.optional and answer in ("", "-"):
            return None
        if not answer or answer == "-":
            typer.echo("  an answer is needed here")
            continue
        if not question.number:
            return answer
        if answer.isdigit():
            return int(answer)
        typer.echo(f"  expected a port number, got {answer!r}")


def ask(question: Question, default: Any, yes: bool) -> Any:
    """The answer to one question: asked, or with --yes its default. Raises: CommandError (required with --yes)."""
    if not yes:
        return _read(question, default)
    if default is None:
        raise CommandError(f"{question.flags or '--' + question.field.replace('_', '-')}: required with --yes")
    return default if default != "" else None


def gather_answers(answers: dict[str, Any], yes: bool, again: tuple[str, ...] = ()) -> dict[str, Any]:
    """Ask every question the answers lack (flags answer some), and those of `again` once more (current as default)."""
    answers = {"secret_env": None, **answers}
    for question in QUESTIONS:
        if not _applies(question, answers, again):
            answers[question.field] = None
        elif question.field in again or question.field not in answers:
            answers[question.field] = ask(question, _default(question, answers, question.field in again), yes)
    return answers


def _refuse_missing_variables(answers: InitAnswers) -> None:
    missing = [name for name in answers.secret_variables if name not in os.environ]
    if missing:
        raise StepFailed(
            "variables",
            CommandError(
                f"set the environment variable(s) {', '.join(missing)} first; "
                "secrets are never written to mailbridge.toml"
            ),
        )


def _test_connections(settings: Settings) -> None:
    mailbox = settings.mailboxes[0]
    try:
        found = probe_mailbox(mailbox)
    except SourceError as exc:
        raise StepFailed("imap", exc) from None
    if found.missing:
        missing = SourceError(f"mailbox {mailbox.name!r}: folder {found.missing[0]!r} does not exist on the server")
        raise StepFailed("mailbox", missing)
    typer.echo(
        f"ok  IMAP {mailbox.connection.host}:{mailbox.connection.port}: logged in, "
        f"{found.folders[mailbox.folder]} messages in {mailbox.folder}"
    )
    try:
        check_smtp_connection(
            settings.smtp.connection,
            mail_from=settings.support.from_address,
            recipient="",
            raw=None,
            report=lambda line: typer.echo(f"ok  SMTP {line}"),
        )
    except (TemporaryDeliveryError, PermanentDeliveryError) as exc:
        raise StepFailed("smtp", exc) from None


def _secret_path(path: Path, answers: InitAnswers) -> Path | None:
    if answers.secret_env is not None or not answers.secret_file:
        return None
    secret = Path(answers.secret_file).expanduser()
    return secret if secret.is_absolute() else path.parent / secret


def _write_config(path: Path, answers: InitAnswers, test: bool) -> tuple[Settings, Path | None]:
    """Write the file (and a new secret file) once it loads and its connections work; return the settings and
    the secret file made. Raises: StepFailed, with nothing left behind."""
    _refuse_missing_variables(answers)
    secret = _secret_path(path, answers)
    made = secret if secret is not None and not secret.exists() else None
    candidate = path.with_name(f".{path.name}.new")
    if made is not None:
        write_private(made, secrets.token_urlsafe(32) + "\n")
    write_private(candidate, render_initial_config(answers))
    try:
        settings = load_settings(candidate)
        if test:
            _test_connections(settings)
    except ConfigError as exc:
        _remove(candidate, made)
        error = ConfigError(str(exc).replace(str(candidate), str(path)))
        raise StepFailed(_part_of(error), error) from None
    except BaseException:
        _remove(candidate, made)
        raise
    candidate.chmod(0o640)
    os.replace(candidate, path)
    return load_settings(path), made


def _part_of(error: ConfigError) -> str:
    """The answers to edit for a configuration error: those of the table it names."""
    return next((part for table, part in TABLE_PARTS.items() if table in str(error)), "answers")


def _remove(*paths: Path | None) -> None:
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)


def _next_step(failure: StepFailed) -> str:
    """Ask what to do after a failed step: r(etry), e(dit) or a(bort)."""
    part = PART_NAMES[failure.part]
    while True:
        answer = typer.prompt(f"test again (r), edit the {part} answers (e) or give up (a)?", default="e")
        if answer.strip().lower()[:1] in ("r", "e", "a"):
            return answer.strip().lower()[:1]


def write_with_retries(path: Path, answers: dict[str, Any], *, test: bool, yes: bool) -> tuple[Settings, Path | None]:
    """Write the configuration; interactively, a failed step is tested again or its answers edited, the others kept.

    Raises: the step's error (with --yes at once; interactively when the admin gives up, after printing the
    `mailbridge init` command line that gives every answer again).
    """
    while True:
        try:
            return _write_config(path, InitAnswers(**_fields(answers)), test)
        except StepFailed as failure:
            if yes:
                raise failure.error from None
            typer.echo(f"failed: {failure.error}")
            step = _next_step(failure)
            if step == "a":
                flags = shlex.join(["mailbridge", "init", *answers_as_flags(InitAnswers(**_fields(answers)))])
                typer.echo(f"your answers, to start again: {flags}")
                raise failure.error from None
            if step == "e":
                answers = gather_answers(answers, yes=False, again=PARTS[failure.part])


_FIELDS = {field.name for field in fields(InitAnswers)}


def _fields(answers: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answers.items() if key in _FIELDS}


def init(
    support_address: str = typer.Option(None, "--support-address", help="Address customers write to."),
    from_name: str = typer.Option(None, "--from-name", help="Display name on our mail (Support)."),
    admin_address: str = typer.Option(None, "--admin-address", help="Where mailbox outage alerts go (none)."),
    imap_host: str = typer.Option(None, "--imap-host", help="IMAP server."),
    imap_port: int = typer.Option(None, "--imap-port", help="Default follows --imap-security."),
    imap_security: str = typer.Option(None, "--imap-security", help="ssl | starttls | plain (ssl)."),
    imap_username: str = typer.Option(None, "--imap-username", help="IMAP login (the support address)."),
    imap_password_env: str = typer.Option(None, "--imap-password-env", help="Variable holding the IMAP password."),
    imap_auth: str = typer.Option(
        None, "--imap-auth", help="password | xoauth2 | oauthbearer: how --imap-username logs in (password)."
    ),
    imap_oauth2_token_command: str = typer.Option(
        None, "--imap-oauth2-token-command", help="With xoauth2/oauthbearer: a command that prints the access token."
    ),
    imap_oauth2_token_file: str = typer.Option(
        None, "--imap-oauth2-token-file", help="With xoauth2/oauthbearer: a file holding the access token."
    ),
    imap_ca_file: str = typer.Option(None, "--imap-ca-file", help="PEM file of a private CA."),
    imap_folder: str = typer.Option(None, "--imap-folder", help="Folder to read (INBOX)."),
    initial_sync: str = typer.Option(None, "--initial-sync", help="new-only | import-silently | import."),
    smtp_host: str = typer.Option(None, "--smtp-host", help="SMTP server."),
    smtp_port: int = typer.Option(None, "--smtp-port", help="Default follows --smtp-security."),
    smtp_security: str = typer.Option(None, "--smtp-security", help="ssl | starttls | plain (starttls)."),
    smtp_username: str = typer.Option(None, "--smtp-username", help="SMTP AUTH user (none: no AUTH)."),
    smtp_auth: str = typer.Option(
        None, "--smtp-auth", help="password | xoauth2 | oauthbearer: how --smtp-username logs in (password)."
    ),
    smtp_oauth2_token_command: str = typer.Option(
        None, "--smtp-oauth2-token-command", help="With xoauth2/oauthbearer: a command that prints the access token."
    ),
    smtp_oauth2_token_file: str = typer.Option(
        None, "--smtp-oauth2-token-file", help="With xoauth2/oauthbearer: a file holding the access token."
    ),
    smtp_password_env: str = typer.Option(
        None, "--smtp-password-env", help="Variable holding the SMTP password (MAILBRIDGE_SMTP_PASSWORD)."
    ),
    smtp_ca_file: str = typer.Option(None, "--smtp-ca-file", help="PEM file of a private CA."),
    database_url: str = typer.Option(
        None, "--database-url", help="sqlite:///mailbridge.db or postgresql+psycopg://..."
    ),
    secret_file: str = typer.Option(
        None,
        "--secret-file",
        help=f"File with the reply-token secret, made (0600, random) if missing ({DEFAULT_SECRET_FILE}).",
    ),
    secret_env: str = typer.Option(
        None, "--secret-env", help='Variable holding the reply-token secret instead of a file; "" for no secret.'
    ),
    test: bool = typer.Option(True, "--test/--no-test", help="Test the IMAP and SMTP connections first."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing configuration file."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Ask nothing: take flags and defaults."),
) -> None:
    """Write mailbridge.toml and the database for a new installation, after testing IMAP and SMTP.

    The file is the example configuration with the answers set in place. When a test fails, init asks whether to
    test again, edit those answers (the others are kept) or give up (it then prints the init command line with
    every answer). With --yes a failed test is one line on stderr, exit 1, and nothing is written. A security that
    does not fit the port is named in under 2 s ("port 993 speaks TLS: use security = ssl"). IMAP and SMTP log in
    with a password or, as Microsoft 365 and Gmail require, an OAuth2 token (xoauth2 | oauthbearer) that a command
    prints or a file holds; the connection tests log in with it.

    Example: mailbridge init --yes --support-address support@shop.example --imap-host imap.shop.example --smtp-host smtp.shop.example
    """
    path = find_config(state.config_path)
    if path.exists() and not force:
        raise CommandError(f"{path} exists already; use --force to overwrite it")
    # An empty option ("--smtp-username ''") answers "none".
    given = {key: value or None for key, value in locals().items() if key in _FIELDS and value is not None}
    if secret_env is not None:
        given["secret_env"] = secret_env or None  # "": no secret at all, unless --secret-file names one
        given.setdefault("secret_file", None)
    answers = gather_answers(given, yes)
    settings, made = write_with_retries(path, answers, test=test, yes=yes)
    build_app(settings, create_contacts=True)  # a new installation: the Contact its mailbox names is created here
    typer.echo(f"wrote {path} and the database {settings.database.shown_url}")
    if made is not None:
        typer.echo(f"wrote the reply-token secret to {made} (mode 0600, random); keep it with the configuration")
    variables = InitAnswers(**_fields(answers)).secret_variables
    if variables:
        typer.echo(f"set {', '.join(variables)} wherever mailbridge runs (systemd: EnvironmentFile)")
    typer.echo(f"next: mailbridge --config {path} run --once")
