"""Creating and dropping the studyhall tables, with a short, bounded wait for locks.

DDL waits for every transaction that touched a table to end: on MariaDB by default for
a day (`lock_wait_timeout`), on PostgreSQL for ever. Here it waits `DDL_LOCK_TIMEOUT`
seconds, then raises `ConflictError` naming the connections that hold the lock. Two
runs at once end cleanly: drops use `IF EXISTS`, creates retry after losing a race,
and on SQLite each takes the write lock before it looks at the schema.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, MetaData, Table, bindparam, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import DropTable

from studyhall.db.backends.fulltext import COMPANIONS_KEY
from studyhall.db.error_translation import CONDITIONS, classify
from studyhall.errors import ConflictError, StudyhallError

# Seconds a create or drop waits for another transaction's lock before giving up.
DDL_LOCK_TIMEOUT = 10.0

# PostgreSQL advisory lock key of studyhall's DDL (advisory locks are per database).
_ADVISORY_KEY = 0x5354_5544_5948_414C  # "STUDYHAL"
_DRIVER_MODULES = ("pymysql", "MySQLdb", "psycopg", "psycopg2", "sqlite3")


def driver_error(exc: BaseException) -> BaseException | None:
    """The driver's own exception behind `exc` (SQLAlchemy's `.orig`, or a cause), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and isinstance(current.orig, BaseException):
            return current.orig
        if type(current).__module__.split(".")[0] in _DRIVER_MODULES:
            return current
        current = current.__cause__ or current.__context__
    return None


def names_missing_database(exc: BaseException) -> bool:
    """Whether connecting failed because the configured database does not exist (yet)."""
    return classify(driver_error(exc)) == "unknown_database"


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether `exc` is a lock wait timeout, a deadlock or a busy SQLite file."""
    condition = classify(driver_error(exc))
    return condition is not None and CONDITIONS[condition] is ConflictError


def drop_tables(
    engine: Engine,
    metadata: MetaData,
    extra: Sequence[str] = (),
    *,
    lock_timeout: float = DDL_LOCK_TIMEOUT,
) -> list[str]:
    """Drop every table of `metadata` and the `extra` tables; return those it found.

    All of them or none: one statement on MySQL (which commits each DDL statement at
    once) and one transaction elsewhere, so a lock that runs out drops nothing.
    """
    # A table's companions (e.g. SQLite's full-text tables over it) go first.
    companions = [
        name for table in metadata.sorted_tables for name in table.info.get(COMPANIONS_KEY, ())
    ]
    tables = [
        *(Table(name, MetaData()) for name in companions),
        *reversed(metadata.sorted_tables),
        *(Table(n, MetaData()) for n in extra),
    ]
    names = [table.name for table in tables]
    with ddl_connection(engine, lock_timeout, "drop the tables", names) as conn:
        present = set(inspect(conn).get_table_names())
        doomed = [table for table in tables if table.name in present]
        if doomed and conn.dialect.name == "sqlite":  # one table per DROP there
            for table in doomed:
                conn.execute(DropTable(table, if_exists=True))
        elif doomed:
            quote = conn.dialect.identifier_preparer.format_table
            with _foreign_key_checks_off(conn):
                conn.exec_driver_sql(
                    "DROP TABLE IF EXISTS " + ", ".join(quote(table) for table in doomed)
                )
    found = [table.name for table in metadata.sorted_tables] + list(extra)
    return [name for name in found if name in present]


@contextlib.contextmanager
def ddl_connection(
    engine: Engine, lock_timeout: float, action: str, table_names: Iterable[str]
) -> Iterator[Connection]:
    """A connection in a transaction that holds studyhall's DDL lock, and whose lock waits
    end after `lock_timeout` seconds.

    The DDL lock (SQLite's write lock, a named lock on MySQL, an advisory lock on
    PostgreSQL) makes a second create or drop wait for the first, then look at the
    schema afresh. Commits when the block ends; a lock wait that runs out raises
    ConflictError naming who holds the lock. The connection's own settings are restored
    before it goes back to the pool (or it is discarded).
    """
    with engine.connect() as conn:
        restore = _limit_lock_waits(conn, lock_timeout)
        try:
            try:
                release = _take_ddl_lock(conn, lock_timeout)
                try:
                    yield conn
                    conn.commit()
                finally:
                    release()
            except (DBAPIError, StudyhallError) as exc:
                if isinstance(exc, _DdlLockBusy):
                    holders: list[str] | None = [exc.holder]
                elif is_lock_conflict(exc):
                    with contextlib.suppress(Exception):
                        conn.rollback()
                    holders = _holders(conn, list(table_names))
                else:
                    raise
                raise ConflictError(
                    _conflict_message(conn, action, lock_timeout, holders)
                ) from exc
        finally:
            restore()


class _DdlLockBusy(ConflictError):
    """Another create or drop held studyhall's DDL lock (MySQL's GET_LOCK timed out)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def _ddl_lock_name(conn: Connection) -> str:
    digest = hashlib.sha1(str(conn.engine.url.database).encode(), usedforsecurity=False)
    return f"studyhall.ddl.{digest.hexdigest()[:20]}"


def _take_ddl_lock(conn: Connection, seconds: float) -> Callable[[], None]:
    """Wait (at most `seconds`) for studyhall's DDL lock; return how to release it."""
    name = conn.dialect.name
    if name == "sqlite":
        _take_sqlite_write_lock(conn)
        return lambda: None
    if name == "postgresql":
        # Released with the transaction; lock_timeout bounds the wait.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
        return lambda: None
    if name in ("mysql", "mariadb"):
        lock = _ddl_lock_name(conn)
        got = conn.execute(
            text("SELECT GET_LOCK(:name, :seconds)"),
            {"name": lock, "seconds": max(1, math.ceil(seconds))},
        ).scalar()
        if got != 1:
            holder = conn.execute(text("SELECT IS_USED_LOCK(:name)"), {"name": lock}).scalar()
            raise _DdlLockBusy(
                f"connection {holder}, which is creating or dropping the studyhall tables "
                f"(`KILL {holder}` ends it)"
            )
        return _restorer(conn, f"DO RELEASE_LOCK('{lock}')")
    return lambda: None


@contextlib.contextmanager
def _foreign_key_checks_off(conn: Connection) -> Iterator[None]:
    """MySQL's foreign-key checks off on this connection for the block (others: nothing)."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        yield
        return
    conn.exec_driver_sql("SET SESSION foreign_key_checks = 0")
    # Restored, or the connection discarded, without hiding the block's own error.
    restore = _restorer(conn, "SET SESSION foreign_key_checks = 1")
    try:
        yield
    finally:
        restore()


def _limit_lock_waits(conn: Connection, seconds: float) -> Callable[[], None]:
    """Set the connection's lock wait limit; return how to put the old one back."""
    name = conn.dialect.name
    if name in ("mysql", "mariadb"):
        whole = max(1, math.ceil(seconds))  # whole seconds only
        conn.exec_driver_sql(
            f"SET SESSION lock_wait_timeout = {whole}, innodb_lock_wait_timeout = {whole}"
        )
        return _restorer(
            conn,
            "SET SESSION lock_wait_timeout = DEFAULT, innodb_lock_wait_timeout = DEFAULT",
        )
    if name == "postgresql":
        # SET LOCAL: it ends with this transaction, so nothing is left to restore.
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{max(1, round(seconds * 1000))}ms'")
        return lambda: None
    if name == "sqlite":
        # On the driver's connection: a statement through SQLAlchemy would BEGIN first,
        # and a BEGIN IMMEDIATE would wait with the old, long timeout.
        driver = conn.connection.driver_connection
        assert driver is not None
        previous = int(driver.execute("PRAGMA busy_timeout").fetchone()[0])
        driver.execute(f"PRAGMA busy_timeout = {max(1, round(seconds * 1000))}")
        return _restorer(conn, f"PRAGMA busy_timeout = {previous}", raw=True)
    return lambda: None


def _restorer(conn: Connection, statement: str, *, raw: bool = False) -> Callable[[], None]:
    def restore() -> None:
        try:
            if raw:
                driver = conn.connection.driver_connection
                assert driver is not None
                driver.execute(statement)
            else:
                conn.exec_driver_sql(statement)
        except Exception:
            # The short limit must not outlive this call: never pool this connection again.
            conn.invalidate()

    return restore


def _take_sqlite_write_lock(conn: Connection) -> None:
    """Hold SQLite's write lock before reading the schema.

    A transaction that reads first cannot take the write lock once another writer has
    committed: it fails at once with "database is locked", ignoring the busy timeout.
    """
    conn.begin()
    driver = conn.connection.driver_connection
    if getattr(driver, "in_transaction", False):
        conn.exec_driver_sql("COMMIT")  # ends the (empty) transaction SQLAlchemy began
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _holders(conn: Connection, table_names: list[str]) -> list[str] | None:
    """The connections holding a lock on the tables (best effort); None if it cannot tell."""
    name = conn.dialect.name
    try:
        if name in ("mysql", "mariadb"):
            return _mysql_holders(conn)
        if name == "postgresql":
            return _postgres_holders(conn, table_names)
    except (DBAPIError, StudyhallError):
        return None
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
    return None


def _mysql_holders(conn: Connection) -> list[str]:
    # Metadata locks are not listed without a plugin; a transaction open in InnoDB is what
    # holds them. Those of connections using our database come first, or alone if any.
    rows = conn.execute(
        text(
            "SELECT p.id, p.user, p.host, p.db, p.command, p.time, t.trx_started, "
            "p.db <=> DATABASE() AS ours "
            "FROM information_schema.innodb_trx t "
            "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
            "WHERE p.id <> CONNECTION_ID() ORDER BY ours DESC, t.trx_started LIMIT 5"
        )
    ).all()
    if any(row.ours for row in rows):
        rows = [row for row in rows if row.ours]
    return [
        f"connection {row.id} ({row.user}@{row.host}"
        + ("" if row.ours else f", using database {row.db}")
        + f", in a transaction since {_clock(row.trx_started)}, "
        f"{'idle' if row.command == 'Sleep' else row.command} for {row.time} s; "
        f"`KILL {row.id}` ends it)"
        for row in rows
    ]


def _postgres_holders(conn: Connection, table_names: list[str]) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT DISTINCT a.pid, a.usename, a.application_name, a.client_addr, a.state, "
            "a.xact_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "LEFT JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.granted AND l.pid <> pg_backend_pid() "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND (c.relname IN :names OR (l.locktype = 'advisory' AND l.objsubid = 1 "
            "AND l.classid::bigint = :high AND l.objid::bigint = :low)) "
            "ORDER BY a.xact_start"
        ).bindparams(bindparam("names", expanding=True)),
        {"names": table_names, "high": _ADVISORY_KEY >> 32, "low": _ADVISORY_KEY & 0xFFFFFFFF},
    ).all()
    return [
        f"backend {pid} (user {user}"
        + (f", application {app!r}" if app else "")
        + (f", from {addr}" if addr else "")
        + f", {state or 'active'} since {_clock(started)}; "
        f"`SELECT pg_terminate_backend({pid})` ends it)"
        for pid, user, app, addr, state, started in rows
    ]


def _clock(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if isinstance(moment, datetime) else "?"


def _conflict_message(
    conn: Connection, action: str, timeout: float, holders: list[str] | None
) -> str:
    where = conn.engine.url.database
    head = (
        f"Could not {action} of {where!r}: another transaction held a lock on them for "
        f"more than {timeout:g} s."
    )
    if conn.dialect.name == "sqlite":
        who = "Another connection or process has a write transaction open on that file."
    elif holders is None:
        who = (
            "Who holds it could not be looked up (on MariaDB and MySQL that needs the "
            "PROCESS privilege)."
        )
    elif holders:
        who = "It is held by " + "; ".join(holders) + "."
    else:
        who = "No open transaction was found any more: it may have just ended."
    return (
        f"{head} {who} End that transaction (commit or roll it back, or stop the program "
        "that holds it), then run this again."
    )


__all__ = [
    "DDL_LOCK_TIMEOUT",
    "ddl_connection",
    "driver_error",
    "drop_tables",
    "is_lock_conflict",
    "names_missing_database",
]
