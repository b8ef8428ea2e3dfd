"""A terminal progress bar (count, percentage, estimate) on stderr for long syncs; nothing when stderr is not a TTY."""

from __future__ import annotations

import sys

import typer

MIN_TOTAL = 100  # a handful of messages needs no bar


class TerminalProgress:
    """Implements `ProgressReporter` with typer.progressbar on stderr."""

    def __init__(self) -> None:
        self._bar = None

    def start(self, label: str, total: int) -> None:
        if total < MIN_TOTAL:
            return
        self._bar = typer.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, show_eta=True)
        self._bar.__enter__()

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def terminal_progress() -> TerminalProgress | None:
    """Return a progress reporter when stderr is a terminal, else None (logs and cron output stay clean)."""
    return TerminalProgress() if sys.stderr.isatty() else None
