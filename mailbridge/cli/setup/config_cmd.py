"""`mailbridge config check`: print the resolved configuration with secrets masked."""

from __future__ import annotations

import typer

from mailbridge.base.config.settings import masked
from mailbridge.cli.common import echo_json, settings

app = typer.Typer(no_args_is_help=True, help="Check the configuration.")


@app.command("check")
def check() -> None:
    """Validate mailbridge.toml and print it resolved, secrets masked.

    Example: mailbridge --config /etc/mailbridge/mailbridge.toml config check
    """
    echo_json(masked(settings()))
