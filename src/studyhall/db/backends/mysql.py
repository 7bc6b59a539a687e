"""MySQL and MariaDB through PyMySQL: strict mode, utf8mb4, bounded waits, exact reset.

`TrackedPyMySQLConnection` knows whether it may hold a transaction, so the pool skips the
ROLLBACK on check-in after a unit of work that already committed.
"""

from __future__ import annotations

from typing import Any

import pymysql  # type: ignore[import-untyped]
from pymysql.connections import Connection as PyMySQLConnection  # type: ignore[import-untyped]
from sqlalchemy import Engine

from studyhall.config import DatabaseSettings

# Every strictness flag MariaDB and MySQL share: an over-long value or a bad date is an
# error instead of a silent truncation or a zero date.
SQL_MODE = "TRADITIONAL,NO_ENGINE_SUBSTITUTION"


def connect_args(settings: DatabaseSettings) -> dict[str, Any]:
    return {
        "charset": "utf8mb4",
        "connect_timeout": settings.connect_timeout,
        # For the connection's whole life: a server that stops answering fails the
        # statement (and the pre-ping) instead of blocking the thread until it resumes.
        "read_timeout": settings.read_timeout,
        "write_timeout": settings.write_timeout,
        "local_infile": False,
        "sql_mode": SQL_MODE,
    }


def install(engine: Engine) -> None:
    """Connect with `TrackedPyMySQLConnection` when the engine uses PyMySQL itself."""
    # Only PyMySQL itself: an engine made with another DBAPI module
    # (`create_engine(module=...)`, e.g. a proxy in tests) keeps its own connect.
    if engine.dialect.loaded_dbapi is pymysql:
        engine.dialect.connect = _connect_pymysql  # type: ignore[method-assign]


class TrackedPyMySQLConnection(PyMySQLConnection):  # type: ignore[misc]
    """A PyMySQL connection that knows whether it may hold a transaction.

    PyMySQL's IN_TRANS status flag is clear after a plain SELECT although the server holds
    a read snapshot, so it cannot decide the reset on check-in. `may_hold_transaction` is
    set by every statement sent, whoever sends it (SQLAlchemy, or code using the driver
    connection directly), and cleared only when a COMMIT or ROLLBACK succeeded.
    """

    may_hold_transaction = True
    connect_timeout: float | None
    _read_timeout: float | None
    _write_timeout: float | None

    def connect(self, sock: Any = None) -> None:
        # PyMySQL applies connect_timeout to the TCP connect only and the read timeout to
        # the handshake: bound the handshake by the (shorter) connect timeout as well.
        read, write, bound = self._read_timeout, self._write_timeout, self.connect_timeout
        if bound:
            self._read_timeout = bound if read is None else min(read, bound)
            self._write_timeout = bound if write is None else min(write, bound)
        try:
            super().connect(sock)
        finally:
            self._read_timeout, self._write_timeout = read, write

    def query(self, sql: Any, unbuffered: bool = False) -> Any:
        self.may_hold_transaction = True
        return super().query(sql, unbuffered)

    def begin(self) -> None:
        self.may_hold_transaction = True
        super().begin()

    def commit(self) -> None:
        super().commit()
        self.may_hold_transaction = False

    def rollback(self) -> None:
        super().rollback()
        self.may_hold_transaction = False


def _connect_pymysql(*cargs: Any, **cparams: Any) -> Any:
    # Replaces the dialect's `connect`, which SQLAlchemy calls after every `do_connect`
    # listener has had its say (a user's listener may set a fresh password or token).
    connect = pymysql.connect
    if connect is not PyMySQLConnection:
        # Someone replaced PyMySQL's connect (a test double, an instrumenting wrapper):
        # use theirs, as the stock dialect would, at the price of an unconditional reset.
        return connect(*cargs, **cparams)
    return TrackedPyMySQLConnection(*cargs, **cparams)


def create_database_sql(name: str) -> str:
    return f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"


def drop_database_sql(name: str) -> str:
    return f"DROP DATABASE IF EXISTS `{name}`"


DATABASE_EXISTS = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"


__all__ = [
    "DATABASE_EXISTS",
    "SQL_MODE",
    "TrackedPyMySQLConnection",
    "connect_args",
    "create_database_sql",
    "drop_database_sql",
    "install",
]
