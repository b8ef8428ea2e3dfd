"""Stage: raw bytes -> ParsedMessage with its new text cut out. Pure, so it may run in another process.

Intake calls `prepare_mail` for a message it was not handed prepared. The poller hands every fetched batch to
`Preparer.prepare_all`, which runs `prepare_mail` in a worker process: parsing message n+1 then overlaps storing
message n, the two cores both work, and a parse that takes longer than the time budget is stopped by killing its
worker, the message handed on as `OverBudget` (intake stores it raw and quarantined) and the next one parsed in a
new worker. Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection

from mailbridge.decisions.inbound.parse import ParsedMessage, ParseLimits, parse_message
from mailbridge.decisions.inbound.reply_text import strip_message, strip_reply

log = logging.getLogger(__name__)
# Messages per hand-over to the worker: one per message costs the poller about as much as storing it
# (pickling, pipe, the executor's threads); ten keep that small and the first results still come soon.
CHUNK_MESSAGES = 10
# How long new worker processes may take to start; their start never counts against a message's budget.
START_SECONDS = 60.0


@dataclass(frozen=True)
class OverBudget:
    """The place of a message whose parse took longer than the time budget: intake stores it raw, quarantined."""

    seconds: float

    @property
    def reason(self) -> str:
        return f"over the parse time budget of {self.seconds:g} s"


# What the preparer hands on for one message; None: intake prepares it itself.
Prepared = ParsedMessage | OverBudget | None


def prepare_mail(
    raw: bytes, max_bytes: int | None = None, *, digest: str | None = None, limits: ParseLimits | None = None
) -> ParsedMessage | None:
    """Parse a message within `limits`, cut its new text and take the digest of its bytes (`digest`: taken
    already); None when it is larger than `max_bytes` (kept raw, never parsed)."""
    if max_bytes is not None and len(raw) > max_bytes:
        return None
    parsed = parse_message(raw, limits)
    return replace(parsed, stripped_text=strip_message(parsed), raw_sha256=digest or raw_digest(raw))


def raw_digest(raw: bytes) -> str:
    """The hex SHA-256 of a message's raw bytes: with the mailbox, the key that spots one mail under another UID."""
    return hashlib.sha256(raw).hexdigest()


def prepare_chunk(
    raws: Sequence[bytes], max_bytes: int, limits: ParseLimits | None = None
) -> list[ParsedMessage | None]:
    """In a worker: prepare several messages; one that fails yields None (intake prepares it again and counts it)."""
    results: list[ParsedMessage | None] = []
    for raw in raws:
        try:
            results.append(prepare_mail(raw, max_bytes, limits=limits))
        except Exception as exc:  # noqa: BLE001 - reported by intake, which repeats the work in its guard.
            log.warning("parse worker failed on a message: %s: %s", type(exc).__name__, exc)
            results.append(None)
    return results


def _start_worker(poller_alive: Connection) -> None:
    """In a new worker: exit with the poller, and build the reply patterns before any message's budget runs."""
    threading.Thread(target=_exit_with_poller, args=(poller_alive,), name="poller-watch", daemon=True).start()
    strip_reply("-")


def _exit_with_poller(poller_alive: Connection) -> None:
    """In a worker: exit once the poller is gone (killed, say), instead of waiting for work forever.

    The poller holds the other end of this pipe and never writes to it: it ends when the poller's process does.
    """
    poller_alive.poll(None)
    os._exit(0)


class Preparer:
    """Prepares mail in order, in up to `processes` worker processes (0: in this process, without a time budget).

    `timeout` is the time budget of one message, in seconds (None: none). A chunk of messages that takes longer
    has its workers killed, and its messages are prepared again one at a time in new ones; a message that takes
    longer alone is handed on as OverBudget. A worker that died is replaced the same way.
    """

    def __init__(self, processes: int, timeout: float | None = None) -> None:
        self.processes = processes
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None
        self._watch: tuple[Connection, Connection] | None = None  # the workers' end, ours (see _exit_with_poller)
        self._lock = threading.Lock()  # the polls of several mailboxes share one worker pool

    def prepare_all(
        self, raws: Sequence[bytes], max_bytes: int, limits: ParseLimits | None = None
    ) -> Iterator[Prepared]:
        """Start preparing now, within `limits`; the iterator gives one result per message, in order.

        None means intake prepares that message itself: any the worker (or, without one, this process) failed on,
        so a failure is counted (and quarantined) inside intake's guard like any other. Without a worker each
        message is prepared here when the iterator reaches it: intake's batch takes them all before its transaction,
        so its look-aheads see the whole batch's ids, as with a worker.
        """
        if not raws:
            return iter(())
        if self.processes == 0:
            return (prepare_chunk([raw], max_bytes, limits)[0] for raw in raws)
        chunks = [raws[start : start + CHUNK_MESSAGES] for start in range(0, len(raws), CHUNK_MESSAGES)]
        jobs = self._submit(chunks, max_bytes, limits)
        return (
            prepared
            for chunk, job in zip(chunks, jobs, strict=True)
            for prepared in self._results(job, chunk, max_bytes, limits)
        )

    def _submit(
        self, chunks: list[Sequence[bytes]], max_bytes: int, limits: ParseLimits | None
    ) -> list[tuple[ProcessPoolExecutor, Future] | None]:
        try:
            pool = self._worker_pool()
            return [(pool, pool.submit(prepare_chunk, chunk, max_bytes, limits)) for chunk in chunks]
        except (BrokenProcessPool, OSError, RuntimeError, FutureTimeout) as exc:
            log.warning("parse worker unavailable, parsing in process: %s", exc)
            self.close()
            return [None] * len(chunks)

    def _results(
        self,
        job: tuple[ProcessPoolExecutor, Future] | None,
        chunk: Sequence[bytes],
        max_bytes: int,
        limits: ParseLimits | None,
    ) -> list[Prepared]:
        if job is None:
            return [None] * len(chunk)
        pool, future = job
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            log.warning(
                "parse worker over the time budget of %g s; its %s messages one at a time", self.timeout, len(chunk)
            )
        except BrokenProcessPool as exc:
            log.warning("parse worker died (%s); its %s messages one at a time", exc, len(chunk))
        except Exception as exc:  # noqa: BLE001 - the messages are prepared again in intake, which counts failures.
            log.warning("parse worker failed: %s: %s", type(exc).__name__, exc)
            return [None] * len(chunk)
        self._kill(pool)
        return [self._prepare_alone(raw, max_bytes, limits) for raw in chunk]

    def _prepare_alone(self, raw: bytes, max_bytes: int, limits: ParseLimits | None) -> Prepared:
        """Prepare one message in a worker within the budget: OverBudget when it takes longer (the worker is killed)."""
        try:
            pool = self._worker_pool()
            future = pool.submit(prepare_chunk, [raw], max_bytes, limits)
        except (BrokenProcessPool, OSError, RuntimeError, FutureTimeout) as exc:
            log.warning("parse worker unavailable, parsing in process: %s", exc)
            self.close()
            return None
        try:
            return future.result(timeout=self.timeout)[0]
        except FutureTimeout:
            log.warning("a message is over the parse time budget of %g s; its worker is replaced", self.timeout)
            self._kill(pool)
            return OverBudget(self.timeout or 0.0)
        except Exception as exc:  # noqa: BLE001 - a worker that died on it: intake prepares it and counts failures.
            log.warning("parse worker failed on a message alone: %s: %s", type(exc).__name__, exc)
            self._kill(pool)
            return None

    def _worker_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            return self._pool or self._start_pool()

    def _start_pool(self) -> ProcessPoolExecutor:
        # A fork server, not fork: the daemon has threads (scheduler, IDLE) that a fork would copy mid-step. The
        # server is a fresh process that imports the parser once, so a worker (a new one after a kill too) starts
        # far faster than a spawned one.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["__main__", __name__])
        self._watch = self._watch or context.Pipe(duplex=False)
        pool = ProcessPoolExecutor(
            max_workers=self.processes, mp_context=context, initializer=_start_worker, initargs=(self._watch[0],)
        )
        try:
            # Started now, one task each, so that no worker's start is counted against a message's budget.
            for started in [pool.submit(os.getpid) for _ in range(self.processes)]:
                started.result(timeout=START_SECONDS)
        except BaseException:
            _kill_workers(pool)
            raise
        self._pool = pool
        return pool

    @property
    def is_running(self) -> bool:
        """Tell whether a worker process has been started (and not closed)."""
        return self._pool is not None

    def _kill(self, pool: ProcessPoolExecutor) -> None:
        """Stop a pool that overran the budget or broke; the next message starts a new one."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        _kill_workers(pool)

    def close(self) -> None:
        """Stop the worker processes, if any (one may be in the middle of a parse: it is killed)."""
        with self._lock:
            pool, self._pool = self._pool, None
            watch, self._watch = self._watch, None
        if pool is not None:
            _kill_workers(pool)
            # Join the executor's manager thread: one still ending at interpreter exit has closed its wake-up pipe,
            # and concurrent.futures' exit hook then writes to it ("OSError: Bad file descriptor" on stderr).
            pool.shutdown(wait=True, cancel_futures=True)
        for end in watch or ():
            end.close()


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's processes at once (a worker stuck in a parse never reads a request to stop) and shut it down."""
    for process in list((pool._processes or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
