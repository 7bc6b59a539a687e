"""`Worker`: threads that claim due jobs and run them, until asked to stop.

An idle thread waits on the process's doorbell (rung when a unit of work of this process
that enqueued commits, and on PostgreSQL by the LISTEN thread for every other process's).
One idle thread at a time is the process's poller: it also looks when its wait times out,
every `poll_min` seconds at first, doubling while nothing is due up to `poll_max` (0.2 s
by default, so a job enqueued by another process on MariaDB or SQLite starts within
about that; 2 s on PostgreSQL, where NOTIFY wakes it and the poll only picks up retries,
delayed jobs and expired leases). When its poll finds a job it rings the doorbell, so the
other idle threads look too; they otherwise wait for the doorbell (at most `PEER_WAIT`).
`stop()` lets each thread finish the job it is running, then ends them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Collection

from studyhall.db import default
from studyhall.db.engine import Database
from studyhall.errors import ConflictError
from studyhall.jobs.claim import check_server
from studyhall.jobs.listener import Listener
from studyhall.jobs.registry import HANDLERS, SCHEDULE
from studyhall.jobs.run import run_next
from studyhall.log import get_logger
from studyhall.services.job_queue import DOORBELL, enqueue

log = get_logger(__name__)

POLL_MIN = 0.05
POLL_MAX = 0.2
POLL_MAX_LISTENING = 2.0
# An idle thread that is not the poller looks at least this often all the same.
PEER_WAIT = 5.0
# After a claim failed (the database is away): wait this long before the next try.
ERROR_PAUSE = 2.0


class Worker:
    """Runs jobs of `kinds` (default: every kind with a handler) on `database` (default:
    the process's, as DatabaseManager has it) in `threads` threads."""

    def __init__(
        self,
        database: Database | None = None,
        *,
        threads: int = 1,
        name: str | None = None,
        kinds: Collection[str] | None = None,
        poll_min: float = POLL_MIN,
        poll_max: float | None = None,
        listen: bool = True,
    ) -> None:
        if threads < 1:
            raise ValueError(f"A worker needs at least 1 thread; it was given {threads}.")
        self._database = database
        self.threads = threads
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.kinds = None if kinds is None else frozenset(kinds)
        self.poll_min = poll_min
        self.poll_max = poll_max
        self.listen = listen
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: Listener | None = None
        self._last_period: dict[str, int] = {}
        # Held by the idle thread that polls for the process while it waits.
        self._poller = threading.Lock()

    @property
    def database(self) -> Database:
        return self._database or default.database()

    def run_pending(self, limit: int | None = None) -> int:
        """Run due jobs in this thread until none is due (or `limit` ran); how many ran."""
        ran = 0
        while limit is None or ran < limit:
            if not self._run_one(f"{self.name}#main"):
                break
            ran += 1
        return ran

    def start(self) -> None:
        """Start the threads (and, on PostgreSQL, the LISTEN thread); returns at once."""
        if self._threads:
            raise RuntimeError("This worker is started already; make a new one to start again.")
        database = self.database
        check_server(database)
        self._stopping.clear()
        listening = self.listen and database.settings.backend == "postgresql"
        poll_max = self.poll_max or (POLL_MAX_LISTENING if listening else POLL_MAX)
        if listening:
            self._listener = Listener(database, DOORBELL, self._stopping)
            self._listener.start()
        for index in range(self.threads):
            thread = threading.Thread(
                target=self._loop,
                args=(index, poll_max),
                name=f"studyhall-worker-{index}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        kinds = sorted(self.kinds if self.kinds is not None else HANDLERS)
        log.info(
            "worker %s started: %d thread(s), kinds %s", self.name, self.threads, ", ".join(kinds)
        )

    def request_stop(self) -> None:
        """Ask the threads to stop after their current job; safe in a signal handler."""
        self._stopping.set()
        DOORBELL.ring()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the threads to end; True when they all did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in [*self._threads, *filter(None, [self._listener])]:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not any(t.is_alive() for t in self._threads)

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the current jobs and wait for the threads; True when they ended."""
        self.request_stop()
        stopped = self.join(timeout)
        if stopped:
            log.info("worker %s stopped", self.name)
        return stopped

    def _loop(self, index: int, poll_max: float) -> None:
        owner = f"{self.name}#{index}"
        delay = self.poll_min
        polled = False  # this look follows a poll (a wait that timed out), not a ring
        while not self._stopping.is_set():
            seen = DOORBELL.generation
            try:
                if index == 0 or polled:
                    self._enqueue_scheduled()
                if self._run_one(owner):
                    if polled:  # work no doorbell announced: the idle peers look too
                        DOORBELL.ring()
                    polled = False
                    delay = self.poll_min
                    continue
            except ConflictError as exc:
                # A deadlock or a busy SQLite file: nothing was claimed, look again.
                log.info("worker %s: claim conflicted (%s); trying again", owner, exc)
                continue
            except Exception:
                log.exception("worker %s could not claim a job; trying again", owner)
                self._stopping.wait(ERROR_PAUSE)
                continue
            if self._stopping.is_set():
                break
            polled = False
            if self._poller.acquire(blocking=False):
                try:
                    polled = not DOORBELL.wait(seen, delay)
                finally:
                    self._poller.release()
                delay = min(delay * 2, poll_max)
            else:
                DOORBELL.wait(seen, max(PEER_WAIT, poll_max))

    def _run_one(self, owner: str) -> bool:
        return run_next(self.database, owner, self.kinds) is not None

    def _enqueue_scheduled(self) -> None:
        """Enqueue each scheduled kind once per period; its key names the period, so
        workers in other processes add nothing more."""
        now = time.time()
        for kind, every in SCHEDULE.items():
            if self.kinds is not None and kind not in self.kinds:
                continue
            period = int(now // every.total_seconds())
            if self._last_period.get(kind) == period:
                continue
            enqueue(kind, None, key=f"{kind}@{period}")
            self._last_period[kind] = period


__all__ = ["Worker"]
