"""SQLite: busy timeout, foreign keys and WAL on every connection, explicit BEGIN, the file."""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import ConnectionPoolEntry

from studyhall.config import DatabaseSettings

BUSY_TIMEOUT = 30.0

# Set (to True) by a writable unit of work: SQLite then takes the write lock at once with
# BEGIN IMMEDIATE, so that the busy timeout applies to it (a deferred transaction that
# reads and then writes cannot upgrade its lock and fails at once with "database is
# locked"). Everything else, read-only units and plain engine use included, keeps
# SQLAlchemy's deferred BEGIN.
IMMEDIATE_BEGIN: ContextVar[bool] = ContextVar("studyhall.immediate_begin", default=False)


def is_file(settings: DatabaseSettings) -> bool:
    """Whether the settings name a database file (not `:memory:`)."""
    return settings.database not in (None, "", ":memory:")


def connect_args() -> dict[str, Any]:
    return {"timeout": BUSY_TIMEOUT, "check_same_thread": False}


def install(engine: Engine) -> None:
    """Pragmas on every new connection, and the BEGIN that sqlite3 leaves out."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    def do_begin(dbapi_connection: Any) -> None:
        # sqlite3 itself would begin only before a write, so reads before it saw no
        # transaction: begin explicitly. Not when the connection is in autocommit mode
        # (isolation_level None: SQLAlchemy's AUTOCOMMIT, or a user's own BEGIN recipe),
        # nor when a transaction is already open (a user's `begin` listener began it).
        if dbapi_connection.isolation_level is None or dbapi_connection.in_transaction:
            return
        dbapi_connection.execute("BEGIN IMMEDIATE" if IMMEDIATE_BEGIN.get() else "BEGIN")

    def do_begin_adapted(dbapi_connection: Any) -> None:
        # aiosqlite through SQLAlchemy's adapter: the state is on the driver's connection
        # (read in place: sqlite3 keeps it in the connection object), the BEGIN goes
        # through the adapter's execute, which awaits the driver's thread.
        driver = dbapi_connection.driver_connection
        if driver.isolation_level is None or driver.in_transaction:
            return
        dbapi_connection.execute("BEGIN IMMEDIATE" if IMMEDIATE_BEGIN.get() else "BEGIN")

    # An override, not a `begin` listener: any Connection event moves every statement
    # onto SQLAlchemy's slower event path (about 20 us per transaction).
    adapted = engine.dialect.is_async
    engine.dialect.do_begin = do_begin_adapted if adapted else do_begin  # type: ignore[method-assign]


def create_file(settings: DatabaseSettings) -> bool:
    """Make the file's folder and an empty file (a valid, empty database); True if made."""
    if not is_file(settings):
        return False
    path = Path(settings.database or "")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


def delete_file(settings: DatabaseSettings) -> None:
    """Delete the database file and its journals."""
    if is_file(settings):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{settings.database}{suffix}").unlink(missing_ok=True)


__all__ = [
    "BUSY_TIMEOUT",
    "IMMEDIATE_BEGIN",
    "connect_args",
    "create_file",
    "delete_file",
    "install",
]
