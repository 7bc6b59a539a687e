"""What differs between SQLite, MySQL/MariaDB and PostgreSQL, kept in one place.

Engine options per backend (bounded waits included), connection set-up, the skipped
reset-on-return, fork safety, database creation, and turning MySQL foreign-key checks off
for a drop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pymysql  # type: ignore[import-untyped]
from pymysql.connections import Connection as PyMySQLConnection  # type: ignore[import-untyped]
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolResetState

from studyhall.database.config import DatabaseSettings, validate_identifier
from studyhall.database.error_translation import install_error_translation
from studyhall.database.pool import StudyhallQueuePool

# Every strictness flag MariaDB and MySQL share: an over-long value or a bad date is an
# error instead of a silent truncation or a zero date.
MYSQL_SQL_MODE = "TRADITIONAL,NO_ENGINE_SUBSTITUTION"
SQLITE_BUSY_TIMEOUT = 30.0
# Every wait of a health check's own connection (connect, read, write), in seconds.
PROBE_TIMEOUT = 1.5
_PID = "studyhall.pid"

# Set (to True) by a writable unit of work: on SQLite it then takes the write lock at once
# with BEGIN IMMEDIATE, so that the busy timeout applies to it (a deferred transaction that
# reads and then writes cannot upgrade its lock and fails at once with "database is
# locked"). Everything else, read-only units and plain engine use included, keeps
# SQLAlchemy's deferred BEGIN.
IMMEDIATE_BEGIN: ContextVar[bool] = ContextVar("studyhall.immediate_begin", default=False)

# Every engine build_engine made, so that a forked child can drop their pools.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def engine_options(settings: DatabaseSettings) -> dict[str, Any]:
    """Keyword arguments for `create_engine` on the settings' backend."""
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_recycle": 300,
        # Bound values stay out of logs and error messages.
        "hide_parameters": True,
        # The reset is done by `_reset_on_return` below, only when it is needed.
        "pool_reset_on_return": None,
    }
    if settings.backend == "sqlite":
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False}
        if settings.database not in (None, "", ":memory:"):
            options.update(
                pool_size=settings.pool_size,
                poolclass=StudyhallQueuePool,
                max_overflow=settings.max_overflow,
                pool_timeout=settings.pool_timeout,
            )
        return options
    options.update(
        pool_size=settings.pool_size,
        poolclass=StudyhallQueuePool,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
    )
    if settings.is_mysql:
        options["connect_args"] = {
            "charset": "utf8mb4",
            "connect_timeout": settings.connect_timeout,
            # For the connection's whole life: a server that stops answering fails the
            # statement (and the pre-ping) instead of blocking the thread until it resumes.
            "read_timeout": settings.read_timeout,
            "write_timeout": settings.write_timeout,
            "local_infile": False,
            "sql_mode": MYSQL_SQL_MODE,
        }
    elif settings.backend == "postgresql":
        options["connect_args"] = {
            "connect_timeout": settings.connect_timeout,
            **postgresql_timeouts(settings),
        }
    # Secret driver arguments studyhall keeps out of the URL (e.g. libpq's sslpassword).
    options["connect_args"].update(settings.connect_secrets)
    return options


def postgresql_timeouts(settings: DatabaseSettings) -> dict[str, Any]:
    """libpq parameters bounding the waits on a dead peer, and the optional statement timeout.

    libpq has no read timeout: TCP keepalives notice a peer that stopped answering while
    we wait for a reply (probes after half the read timeout of silence, three of them
    within the other half), and `tcp_user_timeout` drops a connection whose sent data
    stays unacknowledged for the write timeout. Neither fires while the server's host is
    up (its kernel answers for a stalled server process); `statement_timeout` (server
    side) bounds a slow statement.
    """
    idle = max(1, int(settings.read_timeout // 2))
    interval = max(1, int((settings.read_timeout - idle) // 3))
    args: dict[str, Any] = {
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": interval,
        "keepalives_count": 3,
        "tcp_user_timeout": int(settings.write_timeout * 1000),
    }
    if settings.statement_timeout:
        option = f"-c statement_timeout={int(settings.statement_timeout * 1000)}"
        given = settings.url.query.get("options")  # the URL's own options are kept
        given = " ".join(given) if isinstance(given, tuple) else given
        args["options"] = f"{given} {option}" if given else option
    return args


def build_engine(
    settings: DatabaseSettings, url: URL | None = None, *, pooled: bool = True, **overrides: Any
) -> Engine:
    """Create the engine for `settings` (or another database on its server, `url`)."""
    options = {**engine_options(settings), **overrides}
    if not pooled:
        for name in ("pool_size", "max_overflow", "pool_timeout"):
            options.pop(name, None)
        options["poolclass"] = NullPool
    engine = create_engine(url or settings.url, **options)
    if settings.backend == "sqlite":
        _install_sqlite(engine)
    elif settings.is_mysql and engine.dialect.loaded_dbapi is pymysql:
        # Only PyMySQL itself: an engine made with another DBAPI module
        # (`create_engine(module=...)`, e.g. a proxy in tests) keeps its own connect.
        engine.dialect.connect = _connect_pymysql  # type: ignore[method-assign]
    event.listen(engine, "connect", _remember_process)
    event.listen(engine, "checkout", _refuse_other_process)
    event.listen(engine, "reset", _reset_on_return)
    install_error_translation(engine, settings)
    _engines.add(engine)
    return engine


def build_probe_engine(settings: DatabaseSettings, timeout: float = PROBE_TIMEOUT) -> Engine:
    """A pool-less engine whose every wait is about `timeout` seconds: for health checks.

    It never waits for the pool, nor on a pooled connection stuck on a hung server.
    """
    probe = dataclasses.replace(
        settings,
        connect_timeout=max(2, math.ceil(timeout)),  # libpq takes whole seconds, at least 2
        read_timeout=timeout,
        write_timeout=timeout,
        statement_timeout=timeout,
    )
    return build_engine(probe, pooled=False, pool_pre_ping=False)


def _install_sqlite(engine: Engine) -> None:
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

    # An override, not a `begin` listener: any Connection event moves every statement
    # onto SQLAlchemy's slower event path (about 20 us per transaction).
    engine.dialect.do_begin = do_begin  # type: ignore[method-assign]


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


def server_url(settings: DatabaseSettings) -> URL:
    """The URL of the server's maintenance database, for creating ours."""
    url = settings.url
    maintenance = "postgres" if settings.backend == "postgresql" else None
    # URL.set(database=None) would keep the old name: build the URL anew.
    return URL.create(
        url.drivername, url.username, url.password, url.host, url.port, maintenance, url.query
    )


def ensure_database(settings: DatabaseSettings) -> bool:
    """Create the configured database when it is missing; return True if it was created.

    Safe when several processes race: the loser of a race sees the database exists.
    """
    if settings.backend == "sqlite":
        database = settings.database
        if not database or database == ":memory:":
            return False
        path = Path(database)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.touch(exist_ok=False)  # an empty file is a valid, empty SQLite database
        except FileExistsError:
            return False
        return True
    name = validate_identifier(settings.database or "")
    engine = build_engine(settings, server_url(settings), pooled=False)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if _database_exists(conn, settings, name):
                return False
            try:
                if settings.is_mysql:
                    conn.exec_driver_sql(
                        f"CREATE DATABASE `{name}` "
                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    )
                else:
                    conn.exec_driver_sql(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'")
            except DBAPIError:
                # Another process created it between our check and our CREATE.
                if _database_exists(conn, settings, name):
                    return False
                raise
            return True
    finally:
        engine.dispose()


def _database_exists(conn: Connection, settings: DatabaseSettings, name: str) -> bool:
    if settings.is_mysql:
        query = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"
    else:
        query = "SELECT 1 FROM pg_database WHERE datname = :name"
    return conn.execute(text(query), {"name": name}).first() is not None


def drop_database(settings: DatabaseSettings) -> None:
    """Drop the configured database (server backends) or delete the SQLite file."""
    if settings.backend == "sqlite":
        if settings.database and settings.database != ":memory:":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(settings.database + suffix).unlink(missing_ok=True)
        return
    name = validate_identifier(settings.database or "")
    engine = build_engine(settings, server_url(settings), pooled=False)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if settings.is_mysql:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
            else:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


@contextlib.contextmanager
def foreign_key_checks_off(connection: Connection) -> Iterator[None]:
    """Turn MySQL foreign-key checks off on this one connection, and back on in `finally`."""
    if connection.dialect.name not in ("mysql", "mariadb"):
        yield
        return
    connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
    try:
        yield
    finally:
        try:
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
        except BaseException:
            # The checks could not be restored: this connection must never be reused.
            connection.invalidate()
            raise


def server_version(connection: Connection) -> str:
    """A one-line description of the server, e.g. `mariadb 10.11.19`."""
    info = connection.dialect.server_version_info or ()
    return f"{connection.dialect.name} {'.'.join(str(part) for part in info)}".strip()
