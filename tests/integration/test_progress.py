"""Progress of a long sync: the poller reports counts to the App's reporter; no bar without a terminal."""

from __future__ import annotations

from mailbridge.cli.progress import terminal_progress
from tests.conftest import SUPPORT_USER, customer_mail, run_once


class Recorder:
    def __init__(self):
        self.calls = []

    def start(self, label, total):
        self.calls.append(("start", label, total))

    def advance(self, count):
        self.calls.append(("advance", count))

    def finish(self):
        self.calls.append(("finish",))


def test_first_sync_reports_counts_to_the_progress_reporter(make_app, dovecot, sink, mailbox):
    for n in range(3):
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject=f"Order {n}"))
    app = make_app()
    app.progress = Recorder()
    run_once(app)
    assert app.progress.calls == [("start", f"support/{mailbox}", 3), ("advance", 3), ("finish",)]


def test_no_progress_bar_when_stderr_is_not_a_terminal():
    assert terminal_progress() is None  # pytest captures stderr
