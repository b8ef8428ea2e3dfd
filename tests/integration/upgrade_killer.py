"""Run `mailbridge ARGS` and cut the power (SIGKILL) right after the first SQL statement that matches a pattern.

    python -m tests.integration.upgrade_killer PATTERN --config mailbridge.toml db upgrade

For tests/integration/test_schema_crash.py: the statement has run on the database, nothing after it has (no later
statement, no COMMIT), so the database is left as a power cut at that moment leaves it. The hook is a SQLAlchemy
event on every engine of this process only; mailbridge itself knows nothing of it.
"""

from __future__ import annotations

import os
import re
import signal
import sys

from sqlalchemy import event
from sqlalchemy.engine import Engine

from mailbridge.cli import main


def kill_after(pattern: str) -> None:
    """SIGKILL this process after the first statement whose SQL (with its parameters) matches `pattern`."""
    wanted = re.compile(pattern, re.IGNORECASE | re.DOTALL)

    def after(_conn, _cursor, statement, parameters, _context, _executemany) -> None:
        if wanted.search(f"{statement} {parameters!r}"):
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(Engine, "after_cursor_execute", after)


if __name__ == "__main__":
    kill_after(sys.argv[1])
    sys.argv = ["mailbridge", *sys.argv[2:]]
    main()
