"""Stage: raw bytes -> ParsedMessage with its new text cut out. Pure, so it may run in another process.

Intake calls `prepare_mail` for a message it was not handed prepared. The poller hands a large sync to
`Preparer.prepare_all`, which runs `prepare_mail` in a worker process: parsing message n+1 then
overlaps storing message n, and the two cores both work. Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from mailbridge.decisions.inbound.parse import ParsedMessage, parse_message
from mailbridge.decisions.inbound.reply_text import strip_reply

log = logging.getLogger(__name__)
# Below this many messages a worker costs more (its start, the copies) than it saves.
WORKER_FROM_MESSAGES = 20
# Messages per hand-over to the worker: one per message costs the poller about as much as storing it
# (pickling, pipe, the executor's threads); ten keep that small and the first results still come soon.
CHUNK_MESSAGES = 10
PARENT_CHECK_SECONDS = 1.0


def prepare_mail(raw: bytes, max_bytes: int | None = None, *, digest: str | None = None) -> ParsedMessage | None:
    """Parse a message, cut its new text and take the digest of its bytes (`digest`: taken already); None when
    it is larger than `max_bytes` (kept raw, never parsed)."""
    if max_bytes is not None and len(raw) > max_bytes:
        return None
    parsed = parse_message(raw)
    return replace(
        parsed, stripped_text=strip_reply(parsed.text_body, parsed.html_body), raw_sha256=digest or raw_digest(raw)
    )


def raw_digest(raw: bytes) -> str:
    """The hex SHA-256 of a message's raw bytes: with the mailbox, the key that spots one mail under another UID."""
    return hashlib.sha256(raw).hexdigest()


def prepare_chunk(raws: Sequence[bytes], max_bytes: int) -> list[ParsedMessage | None]:
    """In a worker: prepare several messages; one that fails yields None (intake prepares it again and counts it)."""
    results: list[ParsedMessage | None] = []
    for raw in raws:
        try:
            results.append(prepare_mail(raw, max_bytes))
        except Exception as exc:  # noqa: BLE001 - reported by intake, which repeats the work in its guard.
            log.warning("parse worker failed on a message: %s: %s", type(exc).__name__, exc)
            results.append(None)
    return results


def _exit_with_parent(parent_pid: int) -> None:
    """In a worker: exit once the poller is gone (killed, say), instead of waiting for work forever."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class Preparer:
    """Prepares mail in order, in up to `processes` worker processes (0: in this process)."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # the polls of several mailboxes share one worker pool

    def prepare_all(self, raws: Sequence[bytes], max_bytes: int) -> Iterator[ParsedMessage | None]:
        """Start preparing now; the iterator gives one result per message, in order.

        None means intake prepares that message itself: every message of a small batch, and any the
        worker could not do, so a failure is counted (and quarantined) inside intake's guard like any other.
        """
        if self.processes == 0 or len(raws) < WORKER_FROM_MESSAGES:
            return iter([None] * len(raws))
        chunks = [raws[start : start + CHUNK_MESSAGES] for start in range(0, len(raws), CHUNK_MESSAGES)]
        futures = self._submit(chunks, max_bytes)
        return (
            parsed
            for chunk, future in zip(chunks, futures, strict=True)
            for parsed in self._results(future, len(chunk))
        )

    def _submit(self, chunks: list[Sequence[bytes]], max_bytes: int) -> list[Future | None]:
        try:
            pool = self._worker_pool()
            return [pool.submit(prepare_chunk, chunk, max_bytes) for chunk in chunks]
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            log.warning("parse worker unavailable, parsing in process: %s", exc)
            self.close()
            return [None] * len(chunks)

    def _results(self, future: Future | None, count: int) -> list[ParsedMessage | None]:
        if future is None:
            return [None] * count
        try:
            return future.result()
        except BrokenProcessPool as exc:
            log.warning("parse worker died, parsing in process: %s", exc)
            self.close()
        except Exception as exc:  # noqa: BLE001 - the messages are prepared again in intake, which counts failures.
            log.warning("parse worker failed: %s: %s", type(exc).__name__, exc)
        return [None] * count

    def _worker_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            return self._pool or self._start_pool()

    def _start_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the daemon has threads (scheduler, IDLE) that a fork would copy mid-step.
        self._pool = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )
        return self._pool

    @property
    def is_running(self) -> bool:
        """Tell whether a worker process has been started (and not closed)."""
        return self._pool is not None

    def close(self) -> None:
        """Stop the worker processes, if any."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
