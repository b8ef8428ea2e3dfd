"""The prepare stage: parse plus reply text, in this process or in a worker process, always in order."""

from __future__ import annotations

import os
import signal
import time

from mailbridge.ingest.prepare import OverBudget, Preparer, prepare_mail
from tests.conftest import customer_mail

REPLY = "Yes, the parcel arrived.\n\nOn Mon, 23 Nov 2026 at 10:00, Shop support wrote:\n> Did it arrive?\n"


def mails(count: int) -> list[bytes]:
    return [customer_mail(subject=f"Order {n}", body=REPLY) for n in range(count)]


def slow_mail() -> bytes:
    """A message that takes the stdlib's parameter parser (email.message._parseparam, quadratic) minutes."""
    params = "\r\n ".join(["a;" * 400] * 1500)
    return (f"From: a@example.org\r\nSubject: Slow\r\nContent-Type: text/plain; {params}\r\n\r\nHello\r\n").encode()


def gone(pid: int) -> bool:
    """Wait up to five seconds for a process to end."""
    for _ in range(50):
        if not os.path.exists(f"/proc/{pid}"):
            return True
        time.sleep(0.1)
    return False


def test_prepare_cuts_the_quoted_text():
    parsed = prepare_mail(customer_mail(body=REPLY))
    assert parsed.stripped_text == "Yes, the parcel arrived."
    assert "Did it arrive?" in parsed.text_body


def test_message_over_the_limit_is_not_parsed():
    raw = customer_mail()
    assert prepare_mail(raw, max_bytes=len(raw) - 1) is None


def test_without_worker_each_message_is_prepared_in_process_in_order():
    raws = mails(3)
    assert list(Preparer(0).prepare_all(raws, 10**6)) == [prepare_mail(raw) for raw in raws]


def test_without_worker_a_message_over_the_limit_is_left_to_intake():
    # None: intake stores it as too large, as with a worker.
    small, large = b"Subject: a\r\n\r\nb\r\n", customer_mail()
    prepared = list(Preparer(0).prepare_all([small, large], len(small)))
    assert prepared[0] is not None and prepared[0].subject == "a"
    assert prepared[1] is None


def test_worker_results_match_in_process_results_in_order():
    raws = mails(25)
    preparer = Preparer(1)
    try:
        results = list(preparer.prepare_all(raws, 10**6))
    finally:
        preparer.close()
    assert [r.subject for r in results] == [f"Order {n}" for n in range(len(raws))]
    assert results == [prepare_mail(raw) for raw in raws]


def test_dead_worker_is_replaced_and_its_messages_prepared_again():
    raws = mails(20)
    preparer = Preparer(1)
    try:
        assert list(preparer.prepare_all(raws, 10**6))[0] is not None
        for pid in list(preparer._pool._processes):
            os.kill(pid, signal.SIGKILL)
        results = list(preparer.prepare_all(raws, 10**6))
    finally:
        preparer.close()
    assert results == [prepare_mail(raw) for raw in raws]  # one at a time, in a new worker


def test_message_over_the_time_budget_is_handed_on_and_its_worker_replaced():
    raws = [*mails(2), slow_mail(), *mails(12)]
    preparer = Preparer(1, timeout=1.0)
    try:
        assert list(preparer.prepare_all(mails(1), 10**7))[0] is not None
        [first_worker] = list(preparer._pool._processes)
        start = time.perf_counter()
        results = list(preparer.prepare_all(raws, 10**7))
        elapsed = time.perf_counter() - start
        [new_worker] = list(preparer._pool._processes)
    finally:
        preparer.close()
    assert results[2] == OverBudget(1.0) and results[2].reason == "over the parse time budget of 1 s"
    others = [r.subject for r in results[:2] + results[3:]]
    assert others == [f"Order {n}" for n in (0, 1, *range(12))]
    # The chunk's budget, then the slow message's alone; the killed worker is gone.
    assert elapsed < 20 and new_worker != first_worker and gone(first_worker)


def test_worker_exits_when_the_poller_is_killed(tmp_path):
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "from mailbridge.ingest.prepare import Preparer\n"
        "from tests.unit.test_prepare import mails\n"
        "p = Preparer(1)\n"
        "list(p.prepare_all(mails(3), 10**6))\n"
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
