"""A private MariaDB frozen with SIGSTOP, and what the tests of bounded waits do with it.

A frozen server still accepts TCP connections (the kernel does) but never answers: every
wait of the driver (handshake, query, ping) must end by its timeout. Used by
tests/database/test_timeouts.py (PyMySQL) and test_mysqlclient.py (mysqlclient).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from studyhall.config import DatabaseSettings
from studyhall.db.engine import Database
from studyhall.errors import StudyhallError
from tests.private_mariadb import PrivateMariaDB

TIMEOUT = 2  # seconds: every wait of the pool below
# A hang lasts until the server resumes; a bounded wait ends after a few timeouts.
BOUND = 6 * TIMEOUT + 5


@contextlib.contextmanager
def short_timeouts(server: PrivateMariaDB, drivername: str | None = None) -> Iterator[Database]:
    """A pool of one connection to `server` (through `drivername`, default PyMySQL),
    every wait TIMEOUT seconds; the server is resumed when the block exits."""
    url = server.url if drivername is None else server.url.set(drivername=drivername)
    settings = DatabaseSettings(
        url=url,
        source="DATABASE_URL",
        pool_size=1,
        max_overflow=0,
        connect_timeout=TIMEOUT,
        read_timeout=TIMEOUT,
        write_timeout=TIMEOUT,
    )
    database = Database(settings)
    try:
        yield database
    finally:
        server.resume()
        database.dispose()


def within(seconds: float, call: Callable[[], object]) -> tuple[float, BaseException | None]:
    """Run `call` in a thread; fail the test if it is still waiting after `seconds`.
    Returns the time it took and what it raised (None: nothing)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: B036 - reported to the test thread
            outcome.append(exc)
        else:
            outcome.append(None)

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    elapsed = time.monotonic() - started
    assert not worker.is_alive(), f"still waiting after {elapsed:.1f} s: the wait is unbounded"
    return elapsed, outcome[0]


def select(database: Database, sql: str = "SELECT 1") -> None:
    """One unit of work running `sql`."""
    with database.unit_of_work() as session:
        session.execute(text(sql))


def check_a_running_query_fails_when_hung(server: PrivateMariaDB, database: Database) -> None:
    """A statement sent to a server frozen mid-unit fails within BOUND, the connection goes
    back to the pool, and the pool works again once the server answers."""

    def query_while_frozen() -> None:
        with database.unit_of_work() as session:
            session.execute(text("SELECT 1"))
            server.pause()
            session.execute(text("SELECT 2"))

    try:
        _, error = within(BOUND, query_while_frozen)
    finally:
        server.resume()
    assert isinstance(error, (DBAPIError, StudyhallError)), error
    assert database.engine.pool.checkedout() == 0
    select(database)  # the server answers again: so does the pool


__all__ = [
    "BOUND",
    "TIMEOUT",
    "check_a_running_query_fails_when_hung",
    "select",
    "short_timeouts",
    "within",
]
