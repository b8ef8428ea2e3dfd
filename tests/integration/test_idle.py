"""IMAP IDLE against the real Dovecot: the running daemon stores a new message within two seconds."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import replace

import pytest
from sqlmodel import Session, select

from mailbridge.ingest.sources.idle import IdleWatcher
from mailbridge.ingest.sources.imap import ImapSource
from mailbridge.runtime.daemon import Daemon
from mailbridge.store.models import Message
from tests.conftest import SUPPORT_USER, customer_mail
from tests.servers.choppy_link import ChoppyLink
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
        # Settled: IDLE runs, and the start-up poll and the catch-up poll after IDLE began are over.
        assert wait_until(
            lambda: (
                daemon.watchers
                and all(w.is_idling.is_set() for w in daemon.watchers)
                and daemon.poll_counts.get("support", 0) >= 2
                and not daemon.polling
            ),
            timeout=10,
        )
        polls_before = daemon.poll_counts["support"]
        started = time.monotonic()
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="pushed by IDLE"))
        assert wait_until(lambda: stored_subjects(app) == ["pushed by IDLE"], timeout=10, interval=0.02)
        latency = time.monotonic() - started
        print(f"IDLE latency: append -> stored in {latency * 1000:.0f} ms")
        assert latency < 2.0
        # The poll that stored it was woken by IDLE (the next timed poll is an hour away).
        assert wait_until(lambda: daemon.poll_counts["support"] > polls_before, timeout=5)
    finally:
        daemon.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert all(not w.is_alive() for w in daemon.watchers)


class NoIdleSource(ImapSource):
    """The real source against the real Dovecot, except that it pretends IDLE is not offered."""

    def has_capability(self, name: str) -> bool:
        return name != "IDLE" and super().has_capability(name)


def test_server_without_idle_falls_back_to_polling(make_app, dovecot, sink, mailbox):
    app = make_app(extra="[schedule]\npoll_interval_seconds = 1\n")
    app.open_source = NoIdleSource
    daemon = Daemon(app)
    thread = threading.Thread(target=lambda: asyncio.run(daemon.run()), name="daemon")
    thread.start()
    try:
        assert wait_until(
            lambda: daemon.watchers and all(w.has_idle is False and not w.is_alive() for w in daemon.watchers),
            timeout=10,
        )
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="found by polling"))
        assert wait_until(lambda: stored_subjects(app) == ["found by polling"], timeout=10, interval=0.05)
    finally:
        daemon.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()


@pytest.mark.parametrize("security", ["ssl", "plain"])
def test_idle_keeps_its_connection_when_the_server_s_lines_arrive_in_pieces(
    make_app, dovecot, sink, mailbox, caplog, security
):
    """Issue 18's soak lost IDLE connections under load: a response line that reached the client in several reads
    ended imapclient's non-blocking idle_check with "unterminated line". Through a link that hands Dovecot's TLS
    bytes over 5 at a time, the watcher must stay on its one connection and see every EXISTS."""
    app = make_app()
    settings = app.settings.mailboxes[0]
    port = dovecot.imaps_port if security == "ssl" else dovecot.imap_port
    with ChoppyLink(upstream_port=port) as link:
        choppy = replace(settings, connection=replace(settings.connection, port=link.port, security=security))
        wakes = []
        watcher = IdleWatcher(ImapSource, choppy, mailbox, lambda: wakes.append(time.monotonic()))
        with caplog.at_level(logging.WARNING, logger="mailbridge.ingest.sources.idle"):
            watcher.start()
            try:
                assert wait_until(watcher.is_idling.is_set, timeout=20)
                woken = len(wakes)
                for round_ in range(10):
                    for n in range(5):
                        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject=f"{round_}-{n}"))
                    assert wait_until(lambda before=woken: len(wakes) > before, timeout=10), (
                        f"no wake for round {round_}"
                    )
                    woken = len(wakes)
            finally:
                watcher.stop()
                watcher.join(timeout=15)
        assert not watcher.is_alive()
        assert watcher.outcome.result(timeout=0) is None
        lost = [r.getMessage() for r in caplog.records if "idle lost" in r.getMessage()]
        assert lost == []
        assert link.connections == 1
