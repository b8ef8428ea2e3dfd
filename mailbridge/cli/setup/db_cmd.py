"""`mailbridge db upgrade`: bring the schema to the newest revision by hand."""

from __future__ import annotations

import typer

from mailbridge.cli.common import settings
from mailbridge.store import db

app = typer.Typer(no_args_is_help=True, help="Database schema.")


@app.command("upgrade")
def upgrade() -> None:
    """Upgrade the database schema (`run` and `init` also do; no other command changes it).

    Example: mailbridge db upgrade
    """
    engine = db.make_engine(settings().database.connect_url())
    before, heads = db.upgrade_schema(engine), db.schema_heads()
    where = engine.url.render_as_string()  # the password masked
    if before == heads:
        typer.echo(f"schema already current ({', '.join(sorted(heads))}): {where}")
    else:
        was = ", ".join(sorted(before)) or "no tables"
        typer.echo(f"schema upgraded from {was} to {', '.join(sorted(heads))}: {where}")
