"""The prepare stage: parse plus reply text, in this process or in a worker process, always in order."""

from __future__ import annotations

import os
import signal

from mailbridge.ingest.prepare import WORKER_FROM_MESSAGES, Preparer, prepare_mail
from tests.conftest import customer_mail

REPLY = "Yes, the parcel arrived.\n\nOn Mon, 23 Nov 2026 at 10:00, Shop support wrote:\n> Did it arrive?\n"


def mails(count: int) -> list[bytes]:
    return [customer_mail(subject=f"Order {n}", body=REPLY) for n in range(count)]


def test_prepare_cuts_the_quoted_text():
    parsed = prepare_mail(customer_mail(body=REPLY))
    assert parsed.stripped_text == "Yes, the parcel arrived."
    assert "Did it arrive?" in parsed.text_body


def test_message_over_the_limit_is_not_parsed():
    raw = customer_mail()
    assert prepare_mail(raw, max_bytes=len(raw) - 1) is None


def test_small_batch_is_left_to_intake():
    assert list(Preparer(1).prepare_all(mails(3), 10**6)) == [None, None, None]


def test_worker_results_match_in_process_results_in_order():
    raws = mails(WORKER_FROM_MESSAGES + 5)
    preparer = Preparer(1)
    try:
        results = list(preparer.prepare_all(raws, 10**6))
    finally:
        preparer.close()
    assert [r.subject for r in results] == [f"Order {n}" for n in range(len(raws))]
    assert results == [prepare_mail(raw) for raw in raws]


def test_dead_worker_yields_none_so_intake_prepares_itself():
    raws = mails(WORKER_FROM_MESSAGES)
    preparer = Preparer(1)
    try:
        assert list(preparer.prepare_all(raws[:WORKER_FROM_MESSAGES], 10**6))[0] is not None
        for pid in list(preparer._pool._processes):
            os.kill(pid, signal.SIGKILL)
        results = list(preparer.prepare_all(raws, 10**6))
        again = list(preparer.prepare_all(raws, 10**6))
    finally:
        preparer.close()
    assert results == [None] * len(raws)
    assert again == [prepare_mail(raw) for raw in raws]  # a new worker takes over on the next batch


def test_worker_exits_when_the_poller_is_killed(tmp_path):
    import subprocess
    import sys
    import time

    script = (
        "import os, sys\n"
        "from mailbridge.ingest.prepare import Preparer\n"
        "from tests.unit.test_prepare import mails\n"
        "p = Preparer(1)\n"
        "list(p.prepare_all(mails(25), 10**6))\n"
        "print(*p._pool._processes, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    worker = int(child.stdout.split()[0])
    for _ in range(50):
        if not os.path.exists(f"/proc/{worker}"):
            break
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{worker}")
