"""Who an admin command acts as, for the records it leaves (`outbox cancel`, `messages dismiss`): `--actor`, else
`admin:<login name>` of the user running the command."""

from __future__ import annotations

import getpass


def admin_actor(given: str | None) -> str:
    """The actor a command records: the one given, else admin:<login name> (admin:cli when there is none)."""
    if given:
        return given
    try:
        return f"admin:{getpass.getuser()}"
    except (KeyError, OSError):  # no LOGNAME/USER and no passwd entry (a bare container)
        return "admin:cli"
