"""MySQL and MariaDB through mysqlclient (MySQLdb, C): the optional faster driver.

Chosen by DB_DRIVER=mysqlclient or a `mysql+mysqldb://` URL; installed with
`pip install 'studyhall[mysqlclient]'`. The same guarantees as PyMySQL's (see `mysql`):
utf8mb4, strict mode, LOCAL INFILE off, bounded waits, and `TrackedMySQLdbConnection`,
which knows whether it may hold a transaction so the pool skips the ROLLBACK on check-in
after a unit of work that already committed. Without the package this module still
imports; `install` then has nothing to do (config refuses the driver before an engine).
"""

from __future__ import annotations

import math
import os
from typing import Any

from sqlalchemy import Engine

from studyhall.config import DatabaseSettings

try:
    import MySQLdb
    from MySQLdb.connections import Connection as _MySQLdbConnection
except ImportError:  # optional: PyMySQL is the default driver
    MySQLdb = None
    _MySQLdbConnection = object

# The driver's stock `connect` (a function building `Connection`), as imported.
_STOCK_CONNECT = getattr(MySQLdb, "connect", None)


def connect_args(base: dict[str, Any], settings: DatabaseSettings) -> dict[str, Any]:
    """PyMySQL's arguments (`base`) in mysqlclient's terms: its timeouts are whole seconds
    (libmariadb's options are integers), so a fraction rounds up, never to no timeout."""
    args = dict(base)
    for name in ("connect_timeout", "read_timeout", "write_timeout"):
        args[name] = max(1, math.ceil(args[name]))
    return args


def install(engine: Engine) -> None:
    """Connect with `TrackedMySQLdbConnection` when the engine uses mysqlclient itself."""
    if MySQLdb is not None and engine.dialect.loaded_dbapi is MySQLdb:
        engine.dialect.connect = _connect_mysqldb  # type: ignore[method-assign]


class TrackedMySQLdbConnection(_MySQLdbConnection):  # type: ignore[misc]
    """A mysqlclient connection that knows whether it may hold a transaction.

    Like `mysql.TrackedPyMySQLConnection`: every statement sent through `query` (cursors
    and direct use alike) sets `may_hold_transaction`; only a COMMIT or ROLLBACK that
    succeeded clears it.
    """

    may_hold_transaction = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner_pid = os.getpid()

    def __del__(self) -> None:
        # Runs before the C type's dealloc, whose mysql_close() sends QUIT: in a forked
        # child that would end the parent's session on the shared socket (PyMySQL only
        # closes its file descriptor). A child's pool drops inherited connections; the
        # garbage collector may free them at any time.
        self._forget_if_inherited()

    def close(self) -> None:
        self._forget_if_inherited()
        super().close()

    def _forget_if_inherited(self) -> None:
        """In a process other than the opener: point this process's copy of the socket at
        /dev/null, so that what mysql_close() sends never reaches the server. The
        descriptor stays taken until then, so no new socket of this process can get it."""
        if getattr(self, "owner_pid", os.getpid()) == os.getpid():
            return
        try:
            fd = self.fileno()
        except Exception:  # noqa: BLE001 - already closed: nothing will be sent
            return
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)

    def query(self, query: Any) -> None:
        self.may_hold_transaction = True
        super().query(query)

    def commit(self) -> None:
        super().commit()
        self.may_hold_transaction = False

    def rollback(self) -> None:
        super().rollback()
        self.may_hold_transaction = False

    @property
    def autocommit_mode(self) -> bool:
        """Whether the session autocommits (PyMySQL's attribute name, read by `pooling`)."""
        return bool(self.get_autocommit())


def _connect_mysqldb(*cargs: Any, **cparams: Any) -> Any:
    connect = MySQLdb.connect
    if connect is not _STOCK_CONNECT:
        # Someone replaced mysqlclient's connect (a test double, an instrumenting
        # wrapper): use theirs, at the price of an unconditional reset.
        return connect(*cargs, **cparams)
    return TrackedMySQLdbConnection(*cargs, **cparams)


__all__ = ["TrackedMySQLdbConnection", "connect_args", "install"]
