"""The pool never lets a thread that holds a connection wait the whole pool timeout for
another (finding 8: `requires_new` starved a small pool for 10 s, then a bare TimeoutError).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.util.queue import Empty

from studyhall.config import DatabaseSettings
from studyhall.db.engine import Database
from studyhall.db.pool import HELD_TIMEOUT, StudyhallQueuePool
from studyhall.errors import PoolExhaustedError

POOL_TIMEOUT = 10.0
THREAD_JOIN = 60.0  # "does not hang" bound for every thread


def small_database(settings: DatabaseSettings, pool_size: int, timeout: float) -> Database:
    return Database(
        dataclasses.replace(settings, pool_size=pool_size, max_overflow=0, pool_timeout=timeout)
    )


@pytest.fixture
def two_connections(db_settings: DatabaseSettings) -> Iterator[Database]:
    db = small_database(db_settings, pool_size=2, timeout=POOL_TIMEOUT)
    yield db
    db.dispose()


def run_threads(count: int, target: object) -> list[BaseException | float]:
    """Run `target(index)` in `count` threads; return what each returned or raised."""
    results: list[BaseException | float] = [RuntimeError("thread did not finish")] * count

    def runner(index: int) -> None:
        try:
            results[index] = target(index)  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            results[index] = exc

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_JOIN)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def test_engines_use_the_studyhall_pool(two_connections: Database) -> None:
    assert isinstance(two_connections.engine.pool, StudyhallQueuePool)


def test_requires_new_inside_a_unit_fails_fast_when_every_thread_holds_one(
    two_connections: Database,
) -> None:
    both_hold_one = threading.Barrier(2, timeout=THREAD_JOIN)
    both_tried = threading.Barrier(2, timeout=THREAD_JOIN)
    waited: list[float] = []

    def unit_then_requires_new(index: int) -> float:
        # Read-only units: on SQLite two writable units would queue on the write lock.
        with two_connections.unit_of_work(read_only=True) as outer:
            outer.execute(text("SELECT 1"))  # holds one of the two connections
            both_hold_one.wait()
            started = time.monotonic()
            try:
                with two_connections.unit_of_work("requires_new", read_only=True) as inner:
                    inner.execute(text("SELECT 1"))
            finally:
                waited.append(time.monotonic() - started)
                # Keep holding until both tried: as threads stuck in a real deadlock do.
                both_tried.wait()
        return 0.0

    results = run_threads(2, unit_then_requires_new)

    for result in results:
        assert isinstance(result, PoolExhaustedError), repr(result)
        # Still the pool's own timeout class, for code that catches that.
        assert isinstance(result, PoolTimeoutError)
        message = str(result)
        assert "threads x (1 + requires_new depth)" in message
        assert "DB_POOL_SIZE" in message and "DB_MAX_OVERFLOW" in message
        assert "pool size 2 + max overflow 0" in message
    # Both gave up long before the 10 s pool timeout (a generous bound: a noisy machine).
    assert len(waited) == 2 and max(waited) < POOL_TIMEOUT / 2, waited


def test_a_thread_holding_nothing_waits_the_normal_timeout(db_settings: DatabaseSettings) -> None:
    db = small_database(db_settings, pool_size=1, timeout=POOL_TIMEOUT)
    try:
        asked: list[float] = []
        got: list[float] = []

        def wait_for_the_only_connection(index: int) -> float:
            asked.append(time.monotonic())
            with db.unit_of_work(read_only=True) as session:
                value = float(session.execute(text("SELECT 1")).scalar_one())
                got.append(time.monotonic())  # the connection is taken at the first statement
                return value

        with db.unit_of_work(read_only=True) as holder:
            holder.execute(text("SELECT 1"))
            results: list[BaseException | float] = []
            thread = threading.Thread(
                target=lambda: results.extend(run_threads(1, wait_for_the_only_connection))
            )
            thread.start()
            # Keep the connection until the other thread has been asking for twice
            # HELD_TIMEOUT: holding nothing, it must still be waiting (for up to the pool
            # timeout) when the connection comes back, not have given up after HELD_TIMEOUT.
            deadline = time.monotonic() + THREAD_JOIN
            while not asked or time.monotonic() - asked[0] < HELD_TIMEOUT * 2:
                assert time.monotonic() < deadline, "the other thread never asked"
                assert not got, "the other thread got the only connection while it was held"
                time.sleep(0.01)
            released = time.monotonic()
        thread.join(THREAD_JOIN)
        assert results == [1.0]
        assert got[0] >= released
    finally:
        db.dispose()


def test_a_thread_holding_nothing_gets_the_pools_own_timeout(
    db_settings: DatabaseSettings,
) -> None:
    db = small_database(db_settings, pool_size=1, timeout=0.3)
    try:

        def ask(index: int) -> float:
            with db.unit_of_work(read_only=True) as session:
                return float(session.execute(text("SELECT 1")).scalar_one())

        with db.unit_of_work(read_only=True) as holder:
            holder.execute(text("SELECT 1"))
            (result,) = run_threads(1, ask)
        assert isinstance(result, PoolTimeoutError)
        assert not isinstance(result, PoolExhaustedError)
    finally:
        db.dispose()


def test_a_failed_connect_does_not_blame_the_empty_queue(tmp_path: Path) -> None:
    url = URL.create("sqlite+pysqlite", database=str(tmp_path / "missing" / "db.sqlite3"))
    db = Database(DatabaseSettings(url=url))
    try:
        with pytest.raises(Exception) as caught:
            with db.engine.connect():
                pass
        chain: list[BaseException] = []
        error: BaseException | None = caught.value
        while error is not None and len(chain) < 20:
            chain.append(error)
            error = error.__cause__ or error.__context__
        # QueuePool creates connections outside its `except Empty:`; so must we.
        assert not any(isinstance(e, Empty) for e in chain), chain
    finally:
        db.dispose()


def test_requires_new_works_when_the_pool_fits(two_connections: Database) -> None:
    pool = two_connections.engine.pool
    assert isinstance(pool, StudyhallQueuePool)
    with two_connections.unit_of_work(read_only=True) as outer:
        outer.execute(text("SELECT 1"))
        with two_connections.unit_of_work("requires_new", read_only=True) as inner:
            assert inner.execute(text("SELECT 1")).scalar_one() == 1
    # Every checkout was matched by its check-in: no connection is counted against a thread.
    assert pool._owners == {}
    assert pool.checkedout() == 0


def test_a_connection_returned_by_another_thread_is_uncounted(
    two_connections: Database,
) -> None:
    pool = two_connections.engine.pool
    assert isinstance(pool, StudyhallQueuePool)
    first = pool.connect()
    second = pool.connect()
    run_threads(1, lambda index: second.close())  # returned by another thread
    # This thread now holds only `first`: it is not counted as holding the other one.
    assert list(pool._owners.values()) == [threading.get_ident()]
    first.close()
    assert pool._owners == {}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_holds_none_of_its_parents_connections(tmp_path: Path) -> None:
    # The child's thread has the id of the parent's forking thread: the connection the
    # parent holds must not count as the child's, or the child fails fast for nothing.
    # A bare pool: engines built by studyhall get new pools in a child anyway (a fork
    # hook); this is the fork that bypasses Python's hooks.
    path = str(tmp_path / "pool.sqlite3")
    pool = StudyhallQueuePool(
        lambda: sqlite3.connect(path), pool_size=1, max_overflow=0, timeout=HELD_TIMEOUT * 1.5
    )
    held = pool.connect()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 9
        try:
            pool.connect()
        except PoolExhaustedError:
            code = 1
        except PoolTimeoutError:
            code = 0  # waited the pool timeout, as a thread holding nothing does
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.waitpid(pid, 0)
    code = os.read(read, 1)[0]
    os.close(read)
    os.close(write)
    held.close()
    pool.dispose()
    assert code == 0
