"""The stop a daemon hands a mailbox's poll (runtime/fleet.py `MailboxStop`): given up, or the whole daemon stopping."""

from __future__ import annotations

import threading

from mailbridge.runtime.fleet import MailboxStop


def test_new_mailbox_stop_is_not_set():
    assert not MailboxStop(threading.Event()).is_set()


def test_giving_the_mailbox_up_sets_it_and_leaves_the_daemon_running():
    daemon_stop = threading.Event()
    stop = MailboxStop(daemon_stop)
    stop.set()
    assert stop.is_set() and not daemon_stop.is_set()


def test_daemon_stop_reads_as_set_on_every_mailbox():
    daemon_stop = threading.Event()
    stops = [MailboxStop(daemon_stop), MailboxStop(daemon_stop)]
    daemon_stop.set()
    assert [stop.is_set() for stop in stops] == [True, True]


def test_giving_one_mailbox_up_leaves_the_others_running():
    daemon_stop = threading.Event()
    given_up, other = MailboxStop(daemon_stop), MailboxStop(daemon_stop)
    given_up.set()
    assert given_up.is_set() and not other.is_set()


def test_mailbox_stop_offers_no_wait_that_could_miss_the_daemon_stop():
    # An Event's wait() would block on the mailbox's own flag only, past the daemon's stop: callers may only ask.
    stop = MailboxStop(threading.Event())
    assert not isinstance(stop, threading.Event) and not hasattr(stop, "wait")
