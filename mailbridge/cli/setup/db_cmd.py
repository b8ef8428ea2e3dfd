"""`mailbridge db upgrade`: bring the schema to the newest revision by hand."""

from __future__ import annotations

import typer

from mailbridge.cli.common import settings
from mailbridge.store import db

app = typer.Typer(no_args_is_help=True, help="Database schema.")


@app.command("upgrade")
def upgrade() -> None:
    """Upgrade the database schema (the daemon also does this on start).

    Example: mailbridge db upgrade
    """
    current = settings()
    db.upgrade_schema(db.make_engine(current.database.url))
    typer.echo(f"schema up to date: {current.database.url}")
