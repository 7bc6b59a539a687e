"""The connection pool: a QueuePool that will not let a thread wait for itself.

A thread that holds a pooled connection and asks for another (a `requires_new` unit of
work inside another unit) can only get one if another thread returns one. When every
thread does this at once, all of them wait for each other: QueuePool would block each
for the whole pool timeout and then raise a bare TimeoutError. `StudyhallQueuePool`
remembers which thread holds each connection; a thread that already holds one waits at most
`HELD_TIMEOUT` seconds and then gets a `PoolExhausted` error that names the rule
(connections needed = threads x (1 + requires_new depth)) and the settings to change.
Threads that hold no connection wait the normal pool timeout, as in QueuePool.
"""

from __future__ import annotations

import logging
import os
import time
from threading import get_ident
from typing import Any

from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool
from sqlalchemy.util.queue import Empty

from studyhall.db import metrics
from studyhall.errors import PoolExhaustedError

# Longest wait of a thread that already holds a connection: long enough for a burst of
# other threads to return theirs, short enough that a deadlock is reported at once.
HELD_TIMEOUT = 1.0


# Called directly rather than through super(): these run on every checkout and check-in.
_queue_get = QueuePool._do_get
_queue_return = QueuePool._do_return_conn


# SQLAlchemy names a pool's logger after its class's module, which puts this pool's
# routine INFO lines ("Pool disposed", "Pool recreating") under studyhall's own logger.
# Keep them at SQLAlchemy's level: shown only with `echo_pool` or sqlalchemy.pool logging.
logging.getLogger(f"{__name__}.StudyhallQueuePool").setLevel(logging.WARNING)


class PoolExhausted(PoolExhaustedError, PoolTimeoutError):
    """Raised instead of QueuePool's TimeoutError when the waiting thread holds a connection.

    Both studyhall's `PoolExhaustedError` and SQLAlchemy's `TimeoutError`, so code that
    catches the pool's timeout keeps working.
    """


class StudyhallQueuePool(QueuePool):
    """A QueuePool that raises `PoolExhausted` quickly when a thread would wait for itself."""

    def __init__(self, *args: Any, held_timeout: float = HELD_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_timeout = held_timeout
        # Checked-out record -> the id of the thread that took it. Only the slow path (no
        # connection free) reads it; a connection returned by another thread (or by the
        # garbage collector) is still taken off the right thread.
        self._owners: dict[ConnectionPoolEntry, int] = {}
        self._pid = os.getpid()

    def _do_get(self) -> ConnectionPoolEntry:
        me = get_ident()
        record: ConnectionPoolEntry | None
        try:
            record = self._pool.get(False)  # the usual case: a connection is free
        except Empty:
            # Not inside `except`: an error connecting would say Empty was its cause.
            record = None
        if record is None:
            if self._pid != os.getpid():
                # A forked child: its thread has the id of the parent's forking thread, but
                # holds none of the connections the parent had checked out.
                self._owners.clear()
                self._pid = os.getpid()
            held = sum(1 for owner in list(self._owners.values()) if owner == me)
            # Only this path can wait, so only it is timed (and only with metrics on).
            started = time.perf_counter() if metrics.on else 0.0
            try:
                record = self._get_while_holding(held) if held else _queue_get(self)
            finally:
                if started:
                    metrics.record_pool_wait(time.perf_counter() - started)
        self._owners[record] = me
        return record

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        self._owners.pop(record, None)
        _queue_return(self, record)

    def _get_while_holding(self, held: int) -> ConnectionPoolEntry:
        # QueuePool._do_get with a shorter wait and a different error.
        timeout = min(self._timeout, self._held_timeout)
        while True:
            use_overflow = self._max_overflow > -1
            wait = use_overflow and self._overflow >= self._max_overflow
            try:
                return self._pool.get(wait, timeout)
            except Empty:
                pass
            if use_overflow and self._overflow >= self._max_overflow:
                if wait:
                    raise self._exhausted(held, timeout)
                continue  # a connection was returned meanwhile: try again
            if self._inc_overflow():
                try:
                    return self._create_connection()
                except BaseException:
                    self._dec_overflow()
                    raise

    def _exhausted(self, held: int, timeout: float) -> PoolExhausted:
        size, overflow = self.size(), max(self._max_overflow, 0)
        return PoolExhausted(
            f"This thread already holds {held} pooled connection(s) and asked for another, "
            f"but all {size + overflow} (pool size {size} + max overflow {overflow}) are in "
            f"use; after {timeout:g} s it stopped waiting, since every thread could be "
            "waiting for one another. A unit of work that opens a requires_new unit needs a "
            "second connection: connections needed = threads x (1 + requires_new depth), "
            "e.g. 4 threads with one level of requires_new need 8. Raise DB_POOL_SIZE "
            "(or DB_MAX_OVERFLOW), or run fewer threads."
        )

    def recreate(self) -> QueuePool:
        pool = super().recreate()
        if isinstance(pool, StudyhallQueuePool):
            pool._held_timeout = self._held_timeout
        return pool


__all__ = ["HELD_TIMEOUT", "PoolExhausted", "StudyhallQueuePool"]
