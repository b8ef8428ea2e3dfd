"""`mailbridge secret rotate`: a new reply-token secret, the old one kept as a previous secret.

Reads [support] secret_* and previous_secrets_*; writes both files (0600, atomically), or prints the steps when a
secret lives in an environment variable, which no program can change for the daemon.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import typer

from mailbridge.base.clock import system_clock
from mailbridge.base.config.previous_secrets import keep_previous
from mailbridge.base.config.settings import SupportSettings, find_config
from mailbridge.base.errors import CommandError
from mailbridge.base.files import replace_private
from mailbridge.cli.common import settings, state

app = typer.Typer(no_args_is_help=True, help="The reply-token secret: rotate it.")
SUGGESTED_FILE = "mailbridge.previous-secrets"
SUGGESTED_ENV = "MAILBRIDGE_PREVIOUS_SECRETS"


@app.command("rotate")
def rotate(
    forget_old: bool = typer.Option(
        False,
        "--forget-old",
        help="Do not keep the old secret: reply addresses, survey links and Message-IDs signed with it stop "
        "verifying at once (for a secret that leaked).",
    ),
) -> None:
    """Sign from now on with a new random secret; the old one still verifies what it signed (previous secrets).

    Appends the old secret to [support] previous_secrets_file, then writes the new one to secret_file (both 0600,
    each replaced atomically; run again after a crash). Reload the daemon afterwards (SIGHUP) so that it signs with
    the new secret. When a secret is kept in an environment variable, prints the steps to take and exits 1.

    Example: mailbridge secret rotate
    """
    support = settings().support
    if support.secret is None:
        raise CommandError("[support] has no secret_env or secret_file: there is no secret to rotate")
    new = secrets.token_urlsafe(32)
    secret_file = _file_of(support.secret.source)
    previous_file = _file_of(support.previous_secrets_source)
    keeps_old = not forget_old
    if secret_file is None or (keeps_old and previous_file is None):
        typer.echo("\n".join(manual_steps(support, new, keeps_old=keeps_old)))
        raise typer.Exit(1)
    if previous_file is not None and keeps_old:
        text = previous_file.read_text(encoding="utf-8") if previous_file.exists() else ""
        today = (state.clock or system_clock()).now().date()
        replace_private(previous_file, keep_previous(text, support.secret.value, today))
    replace_private(secret_file, new + "\n")
    typer.echo(f"wrote a new secret to {secret_file} (mode 0600)")
    if keeps_old:
        typer.echo(
            f"the old secret is kept in {previous_file}: reply addresses, survey links and Message-IDs signed with it "
            f"still verify; remove it there after {support.reply_token_days} days (reply_token_days), or at once "
            "if it leaked"
        )
    typer.echo("reload the daemon (SIGHUP, e.g. systemctl reload mailbridge) to sign with the new secret")


def _file_of(source: str | None) -> Path | None:
    """The file a Secret's source names ("file:PATH"); None for a variable or nothing."""
    return Path(source.removeprefix("file:")) if source and source.startswith("file:") else None


def manual_steps(support: SupportSettings, new: str, *, keeps_old: bool) -> list[str]:
    """The steps to take when a secret is kept in an environment variable, or no previous secrets are configured."""
    assert support.secret is not None, "checked by rotate"
    kind, _, where = support.secret.source.partition(":")
    previous = support.previous_secrets_source
    steps = []
    if previous is None and keeps_old:
        suggested = f"file:{SUGGESTED_FILE}" if kind == "file" else f"env:{SUGGESTED_ENV}"
        key = "previous_secrets_file" if kind == "file" else "previous_secrets_env"
        steps.append(f'add {key} = "{suggested.partition(":")[2]}" to [support] in {find_config(state.config_path)}')
        if kind == "file":
            steps.append("run `mailbridge secret rotate` again (--forget-old: keep nothing, for a secret that leaked)")
            return _numbered(steps)
        previous = suggested
    current = f"the value of {where}" if kind == "env" else f"the content of {where}"
    if not keeps_old:
        steps.append("keep nothing: what the old secret signed stops verifying")
    elif previous is not None and previous.startswith("env:"):
        steps.append(f"keep the old secret: add {current} to {previous.removeprefix('env:')} (comma-separated)")
    elif previous is not None:
        steps.append(f"keep the old secret: append {current} to {previous.removeprefix('file:')}, on a line of its own")
    if kind == "env":
        steps.append(f"set {where} to a new random secret, for example: {new}")
    else:
        steps.append(f"write a new random secret to {where} (mode 0600), for example: {new}")
    steps.append(
        "restart mailbridge, or reload it (SIGHUP), wherever this configuration is used (the daemon, an MTA's "
        "`mailbridge ingest`)"
    )
    return _numbered(steps)


def _numbered(steps: list[str]) -> list[str]:
    return ["mailbridge: secret rotate cannot do this itself; the steps:"] + [
        f"  {n}. {step}" for n, step in enumerate(steps, 1)
    ]
