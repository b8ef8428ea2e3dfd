"""Who an admin command acts as, for the records it leaves (`outbox cancel`, `messages dismiss`): `--actor`, else
`admin:<login name>` of the user running the command; and how such a command acts on each of the ids it is given."""

from __future__ import annotations

import getpass
from collections.abc import Callable

import typer

from mailbridge.base.errors import CommandError, NotFoundError
from mailbridge.cli.common import echo_json


def admin_actor(given: str | None) -> str:
    """The actor a command records: the one given, else admin:<login name> (admin:cli when there is none)."""
    if given:
        return given
    try:
        return f"admin:{getpass.getuser()}"
    except (KeyError, OSError):  # no LOGNAME/USER and no passwd entry (a bare container)
        return "admin:cli"


def act_on_each(
    ids: list[int], act: Callable[[int], str], *, done: str, describe: Callable[[int, str], str], as_json: bool
) -> None:
    """Act on each id on its own: one line per id (or one JSON list), and exit 1 when any was refused.

    `act` does one id in its own transaction and returns what the item was before; its CommandError or NotFoundError
    refuses that id only (an error line on stderr) and the others are acted on all the same. A JSON row is
    {"id": ..., done: true or false, "was": ..., "error": ...}.
    """
    results = []
    for item_id in ids:
        try:
            was = act(item_id)
        except (CommandError, NotFoundError) as exc:
            typer.echo(f"mailbridge: error: {exc}", err=True)
            results.append({"id": item_id, done: False, "was": None, "error": str(exc)})
            continue
        results.append({"id": item_id, done: True, "was": was, "error": None})
        if not as_json:
            typer.echo(describe(item_id, was))
    if as_json:
        echo_json(results)
    if any(not r[done] for r in results):
        raise typer.Exit(1)
