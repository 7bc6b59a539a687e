"""What every pooled connection gets, on every backend: its owner process, the reset, and
a ping only when the connection has been idle.

A connection remembers the process that opened it: a forked child gives every engine a
new pool (and a checkout of a parent's connection is refused), so two processes never
share a conversation. On check-in the ROLLBACK is sent only when the connection may still
hold a transaction.

The ping bypass window (HikariCP's aliveBypassWindowMs): a connection returned to the
pool less than `ping_bypass_ms` ago is handed out without a ping, saving a round trip per
unit of work; one idle for longer is pinged, and replaced when the ping finds it dead (as
SQLAlchemy's `pool_pre_ping` does, which this replaces). A connection that died within
the window (the server restarted, or killed it) fails on the unit's first statement:
when nothing has been sent on it since checkout, no transaction is open and the error is
a lost connection, that statement runs again, once, on a new connection. Nothing of the
unit can have taken effect on the server, since the transaction it began was never
committed. Every other failure is raised as before.
"""

from __future__ import annotations

import math
import os
import time
import weakref
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError, InvalidatePoolError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, PoolResetState

from studyhall.log import get_logger

log = get_logger(__name__)

_PID = "studyhall.pid"
# time.monotonic() of the connection's last return to the pool; inf: new, not yet used.
_RETURNED = "studyhall.returned"
# Set at checkout, taken by the first statement: nothing was sent since checkout.
_UNTOUCHED = "studyhall.untouched"
# The dialect's methods that run the driver's execute.
_EXECUTES = ("do_execute", "do_executemany", "do_execute_no_params")

# True while a unit of work takes a connection on which it first sets something (an
# isolation level): SQLAlchemy sends that outside any statement and raises the driver's
# own error when the connection is dead, so such a checkout is pinged, as before.
PING_ON_CHECKOUT: ContextVar[bool] = ContextVar("studyhall.ping_on_checkout", default=False)

# Every engine `install` saw, so that a forked child can drop their pools.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def install(engine: Engine, ping_bypass_ms: int = 500) -> None:
    """Owner process, fork safety, the conditional reset and the ping bypass window
    (`ping_bypass_ms`, 0: ping every reuse), for `engine`'s pool.

    The engine must be made with `pool_pre_ping=False`: the checkout listener pings.
    """
    window = ping_bypass_ms / 1000
    dialect: Any = engine.dialect
    server = dialect.name != "sqlite"  # a SQLite connection does not die in the pool
    clock = time.monotonic

    def checkout(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        info = record.info
        _refuse_other_process(info, record, proxy)
        returned = info.get(_RETURNED, 0.0)
        if clock() - returned > window or (PING_ON_CHECKOUT.get() and returned != math.inf):
            # SQLAlchemy's own pre-ping (handle_error listeners see `is_pre_ping`); a dead
            # connection invalidates the pool, whose older connections are then replaced.
            if not dialect._do_ping_w_event(dbapi_connection):
                raise InvalidatePoolError("The pooled connection did not answer a ping.")
        if server:
            info[_UNTOUCHED] = True

    event.listen(engine, "connect", _remember_process)
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "reset", _reset_on_return)
    if server:
        _first_statement_again(dialect)
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
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver is not dbapi_connection:
        # An asyncio driver behind SQLAlchemy's adapter: aiosqlite's in_transaction is
        # sqlite3's (exact); asyncmy's is `backends.asyncmy`'s tracked flag.
        try:
            return needs_reset(driver)
        except ValueError:  # aiosqlite's, once closed: "no active connection"
            return True
    return True  # a connection we cannot read (e.g. made by a user's do_connect listener)


def _remember_process(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_PID] = os.getpid()
    record.info[_RETURNED] = math.inf  # just connected: no ping before its first use


def _refuse_other_process(info: dict[str, Any], record: Any, proxy: Any) -> None:
    # The fork hook below has already given a child new pools; this catches a fork that
    # bypassed Python's hooks (a C extension calling fork()). A pool event, not a
    # Connection one: it runs once per checkout and leaves statements on the fast path.
    if info.get(_PID) != os.getpid():
        # Dropped, not closed: closing would end the other process's session too.
        record.dbapi_connection = proxy.dbapi_connection = None
        raise DisconnectionError(
            "This pooled connection was opened by another process (before a fork); "
            "a new one is opened instead."
        )


def _reset_on_return(
    dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState
) -> None:
    # Runs at every return of a usable connection: the start of its bypass window.
    record.info[_RETURNED] = time.monotonic()
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


def _first_statement_again(dialect: Any) -> None:
    """Wrap the dialect's execute methods (instance attributes, in front of its class's):
    the first statement after a checkout runs again on a new connection when the pooled
    one turns out dead (see the module docstring). Later statements pay one call and a
    dictionary lookup."""
    execute, executemany, execute_no_params = (getattr(dialect, n) for n in _EXECUTES)

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        if context is None or not _untouched(context):
            execute(cursor, statement, parameters, context)
        else:
            _run_first(execute, cursor, context, statement, parameters)

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        if context is None or not _untouched(context):
            executemany(cursor, statement, parameters, context)
        else:
            _run_first(executemany, cursor, context, statement, parameters)

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        if context is None or not _untouched(context):
            execute_no_params(cursor, statement, context)
        else:
            _run_first(execute_no_params, cursor, context, statement)

    methods = (do_execute, do_executemany, do_execute_no_params)
    for name, method in zip(_EXECUTES, methods, strict=True):
        setattr(dialect, name, method)


def _run_first(run: Any, cursor: Any, context: Any, *arguments: Any) -> None:
    """Run a checkout's first statement (`run(cursor, *arguments, context)`); once more on
    a new connection when the first try finds the connection lost before use."""
    try:
        run(cursor, *arguments, context)
        return
    except Exception as error:
        replacement = _replacement(error, cursor, context)
        if replacement is None:
            raise
    # Outside the handler: a failure of the second try is not chained to the first's.
    run(replacement, *arguments, context)


def _untouched(context: Any) -> bool:
    """Whether this is the first statement since checkout, on a connection that may be
    replaced (then it is run guarded; once per checkout)."""
    fairy = context.root_connection.connection
    # The pool's record of the connection (the dialect's first connect runs statements
    # on an ad-hoc proxy whose `info` is not usable).
    record = getattr(fairy, "_connection_record", None)
    return (
        record is not None
        and bool(record.info.pop(_UNTOUCHED, False))
        and _may_run_again(fairy, record)
    )


def _replacement(error: Exception, cursor: Any, context: Any) -> Any:
    """A cursor on a new connection when `error` says the connection was lost before the
    statement could run; None when the error is to be raised."""
    fairy = context.root_connection.connection
    if not _lost_before_use(error, fairy, cursor, context):
        return None
    return _reconnect(fairy, context, error)


def _may_run_again(fairy: PoolProxiedConnection, record: Any) -> bool:
    """Whether nothing of a unit can be lost by replacing the connection under it: no
    transaction open on the driver's connection, no per-checkout settings (e.g. an
    isolation level, which a new connection would not have) and not autocommit."""
    dbapi_connection = fairy.dbapi_connection
    if dbapi_connection is None or record.finalize_callback:
        return False
    if needs_reset(dbapi_connection):
        return False
    autocommit = getattr(dbapi_connection, "autocommit_mode", None)  # PyMySQL
    if autocommit is None:
        autocommit = getattr(dbapi_connection, "autocommit", True)  # psycopg
    return autocommit is False


def _lost_before_use(error: Exception, fairy: Any, cursor: Any, context: Any) -> bool:
    """A lost connection, not a timeout (a slow statement may still run on the server)
    and not DDL (MySQL commits it on its own)."""
    dialect = context.dialect
    if not isinstance(error, dialect.loaded_dbapi.Error) or context.isddl:
        return False
    if not dialect.is_disconnect(error, fairy, cursor):
        return False
    cause: BaseException | None = error
    for _ in range(8):  # the chain of causes, bounded
        if cause is None:
            break
        if isinstance(cause, TimeoutError):
            return False
        cause = cause.__cause__ or cause.__context__
    return True


def _reconnect(fairy: Any, context: Any, error: Exception) -> Any:
    """Replace the fairy's dead connection with a new one; its cursor, or None when no new
    connection can be made (the server is down: the original error is raised)."""
    record = fairy._connection_record
    # Only this connection: the pool's others are left to their own first statement (or
    # ping), since a `handle_error` listener may have said a disconnect must not
    # invalidate the pool (`invalidate_pool_on_disconnect`), and no error reached it.
    record.invalidate(error)  # closes the dead connection
    try:
        fairy.dbapi_connection = record.get_connection()
    except Exception as connect_error:
        log.warning(
            "The pooled connection was lost before the unit of work's first statement, "
            "and no new connection could be made (%s); the statement failed.",
            type(connect_error).__name__,
        )
        return None
    log.warning(
        "The pooled connection was lost before the unit of work's first statement "
        "(%s: the server restarted or closed it); the first statement ran again on a new "
        "connection.",
        type(error).__name__,
    )
    context.cursor = cursor = context.create_cursor()
    return cursor


def _forget_inherited_connections() -> None:
    """In a forked child: give every engine a new, empty pool; never touch the parent's.

    SQLAlchemy's recipe (`dispose(close=False)`): the child opens its own connections, and
    the parent's sockets, shared after the fork, carry only the parent's conversations.
    """
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)

__all__ = ["PING_ON_CHECKOUT", "install", "needs_reset"]
