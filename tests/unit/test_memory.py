"""runtime/memory.py: freed heap memory goes back to the system (issue 18's soak: RSS grew while the heap did not)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mailbridge.runtime import memory

PROGRAM = textwrap.dedent(
    """
    import threading
    from mailbridge.runtime.memory import limit_arenas, trim

    def rss_mb():
        return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

    limit_arenas()
    kept = []

    def work():  # 200 MB in a worker thread's arena, a few survivors scattered so the heap cannot shrink from its top
        blocks = [bytes(2000) for _ in range(100_000)]
        kept.extend(blocks[::100])

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    before = rss_mb()
    released = trim()
    print(before, rss_mb(), released)
    """
)


@pytest.mark.skipif(memory._LIBC is None, reason="not glibc: trimming is a no-op there")
def test_trim_gives_a_worker_thread_s_freed_memory_back():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True).stdout.split()
    before, after, released = float(out[0]), float(out[1]), out[2]
    print(f"RSS before trim {before:.1f} MB, after {after:.1f} MB")
    assert released == "True"
    assert before - after > 100  # of the 200 MB freed, most was still held by the allocator


def test_without_glibc_both_calls_do_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_LIBC", None)
    assert memory.limit_arenas() is False
    assert memory.trim() is False
