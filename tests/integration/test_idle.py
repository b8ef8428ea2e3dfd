"""IMAP IDLE against the real Dovecot: the running daemon stores a new message within two seconds."""

from __future__ import annotations

import asyncio
import threading
import time

from sqlmodel import Session, select

from mailbridge.daemon import Daemon
from mailbridge.models import Message
from tests.conftest import SUPPORT_USER, customer_mail
from tests.servers.util import wait_until

NO_POLLING = "[schedule]\npoll_interval_seconds = 3600\noutbox_interval_seconds = 3600\n"


def stored_subjects(app) -> list[str]:
    with Session(app.engine) as session:
        return [m.subject for m in session.exec(select(Message))]


def test_idle_wakes_the_poll_and_stores_new_mail_within_two_seconds(make_app, dovecot, sink, mailbox):
    app = make_app(extra=NO_POLLING)
    daemon = Daemon(app)
    thread = threading.Thread(target=lambda: asyncio.run(daemon.run()), name="daemon")
    thread.start()
    try:
        assert wait_until(lambda: daemon.watchers and all(w.is_idling.is_set() for w in daemon.watchers), timeout=10)
        started = time.monotonic()
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="pushed by IDLE"))
        assert wait_until(lambda: stored_subjects(app) == ["pushed by IDLE"], timeout=10, interval=0.02)
        latency = time.monotonic() - started
        print(f"IDLE latency: append -> stored in {latency * 1000:.0f} ms")
        assert latency < 2.0
    finally:
        daemon.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert all(not w.is_alive() for w in daemon.watchers)
