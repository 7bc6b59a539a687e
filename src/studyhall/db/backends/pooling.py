"""What every pooled connection gets, on every backend: its owner process and the reset.

A connection remembers the process that opened it: a forked child gives every engine a
new pool (and a checkout of a parent's connection is refused), so two processes never
share a conversation. On check-in the ROLLBACK is sent only when the connection may still
hold a transaction.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

_PID = "studyhall.pid"

# Every engine `install` saw, so that a forked child can drop their pools.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def install(engine: Engine) -> None:
    """Owner process, fork safety and the conditional reset, for `engine`'s pool."""
    event.listen(engine, "connect", _remember_process)
    event.listen(engine, "checkout", _refuse_other_process)
    event.listen(engine, "reset", _reset_on_return)
    _engines.add(engine)


def needs_reset(dbapi_connection: Any) -> bool:
    """Whether the connection may still hold a transaction (a read snapshot included)."""
    flag = getattr(dbapi_connection, "may_hold_transaction", None)
    if flag is not None:  # our PyMySQL connection: set by every statement sent
        return bool(flag)
    info = getattr(dbapi_connection, "info", None)
    status = getattr(info, "transaction_status", None)
    if status is not None:  # psycopg: the server's own report, exact
        return int(status) != 0
    in_transaction = getattr(dbapi_connection, "in_transaction", None)
    if isinstance(in_transaction, bool):  # sqlite3: exact
        return in_transaction
    return True  # a connection we cannot read (e.g. made by a user's do_connect listener)


def _remember_process(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_PID] = os.getpid()


def _refuse_other_process(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    # The fork hook below has already given a child new pools; this catches a fork that
    # bypassed Python's hooks (a C extension calling fork()). A pool event, not a
    # Connection one: it runs once per checkout and leaves statements on the fast path.
    if record.info.get(_PID) != os.getpid():
        # Dropped, not closed: closing would end the other process's session too.
        record.dbapi_connection = proxy.dbapi_connection = None
        raise DisconnectionError(
            "This pooled connection was opened by another process (before a fork); "
            "a new one is opened instead."
        )


def _reset_on_return(
    dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState
) -> None:
    # Replaces the pool's unconditional ROLLBACK on check-in, which costs a round trip
    # after every unit of work that already ended with COMMIT or ROLLBACK.
    if (
        state.asyncio_safe
        and not state.transaction_was_reset
        and needs_reset(dbapi_connection)
        # A connection the parent process opened, checked in by a forked child: a
        # ROLLBACK sent from here would end the parent's transaction.
        and record.info.get(_PID) == os.getpid()
    ):
        dbapi_connection.rollback()


def _forget_inherited_connections() -> None:
    """In a forked child: give every engine a new, empty pool; never touch the parent's.

    SQLAlchemy's recipe (`dispose(close=False)`): the child opens its own connections, and
    the parent's sockets, shared after the fork, carry only the parent's conversations.
    """
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)

__all__ = ["install", "needs_reset"]
