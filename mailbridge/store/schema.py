"""Which schema this version of mailbridge needs, and the one rule that compares it with a database's.

Read from the migration files without loading alembic or SQLAlchemy, so a command that only reads (store/reader.py)
can check the schema cheaply; `db.check_schema` and `reader.open_reader` both end in `check_revisions`.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from mailbridge.base.errors import SchemaError

MIGRATIONS = Path(__file__).parent / "migrations"


def schema_heads() -> frozenset[str]:
    """The revisions alembic's version table holds once every migration this version ships has run.

    Those no other revision follows or depends on, read from the `revision`, `down_revision` and `depends_on`
    assignments of the migration files without loading alembic (tests/integration/test_schema_check.py checks the
    result against the table alembic writes).
    """
    revisions, earlier = _migrations()
    return revisions - earlier


@cache
def _migrations() -> tuple[frozenset[str], frozenset[str]]:
    """Every revision this version ships, and those another one follows or depends on."""
    revisions: set[str] = set()
    earlier: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            # `revision = "0001"` or, as alembic's own template writes it, `revision: str = "0001"`.
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            else:
                continue
            if isinstance(target, ast.Name):
                name = target.id
                if name == "revision":
                    revisions.add(ast.literal_eval(value))
                elif name in ("down_revision", "depends_on"):
                    found = ast.literal_eval(value)
                    earlier.update(found if isinstance(found, tuple) else () if found is None else (found,))
    return frozenset(revisions), frozenset(earlier)


def check_not_newer(current: frozenset[str]) -> None:
    """Refuse a database a later version of mailbridge upgraded: it is at a revision this version does not ship.

    Raises: SchemaError saying to upgrade mailbridge (neither this version's commands nor its migrations know it).
    """
    if current - _migrations()[0]:
        raise SchemaError(
            f"the database schema ({', '.join(sorted(current))}) is newer than this version of mailbridge "
            f"({', '.join(sorted(schema_heads()))}): upgrade mailbridge"
        )


def check_revisions(current: frozenset[str]) -> None:
    """Compare the revisions a database is at with this version's heads.

    Raises: SchemaError naming the command to run (an empty set: a database with no tables yet).
    """
    heads = schema_heads()
    if current == heads:
        return
    if not current:
        raise SchemaError("the database has no tables yet: run `mailbridge init` or `mailbridge db upgrade` first")
    check_not_newer(current)
    raise SchemaError(
        f"the database schema ({', '.join(sorted(current))}) is older than this version's "
        f"({', '.join(sorted(heads))}): run `mailbridge db upgrade` (or restart `mailbridge run`)"
    )
