"""The pool's reset on check-in: skipped after a unit of work that ended cleanly, done
whenever the connection may still hold a transaction (a read snapshot included).

The pool holds exactly one connection, so every unit of work below reuses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, text
from sqlalchemy.orm import Session

from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager, get_current_session, with_db_session
from studyhall.db.backends import build_engine
from studyhall.db.engine import Database

metadata = MetaData()
probe = Table(
    "reset_probe", metadata, Column("id", Integer, primary_key=True), mysql_engine="InnoDB"
)

RollbackCount = Callable[[Session], int]


@pytest.fixture
def one_connection(db_settings: DatabaseSettings) -> Database:
    """The manager on a pool of a single connection, with the probe table created."""
    settings = dataclasses.replace(db_settings, pool_size=1, max_overflow=0, pool_timeout=2)
    database = DatabaseManager.initialize(settings)
    metadata.create_all(database.engine)
    return database


def pooled(session: Session) -> Any:
    """The driver connection under the session's transaction."""
    return session.connection().connection.dbapi_connection


@pytest.fixture
def rollbacks(backend: str, monkeypatch: pytest.MonkeyPatch) -> RollbackCount:
    """How many ROLLBACKs the pooled connection of a session has received so far."""
    if backend == "mariadb":
        # The server's own count for this connection.
        def server_count(session: Session) -> int:
            row = session.execute(text("SHOW SESSION STATUS LIKE 'Com_rollback'")).one()
            return int(row[1])

        return server_count

    seen: dict[int, int] = {}
    if backend == "sqlite":
        # Every statement the connection runs, ROLLBACK included.
        def sqlite_count(session: Session) -> int:
            connection = pooled(session)
            if id(connection) not in seen:
                seen[id(connection)] = 0

                def trace(statement: str) -> None:
                    if statement.strip().upper() == "ROLLBACK":
                        seen[id(connection)] += 1

                connection.set_trace_callback(trace)
            return seen[id(connection)]

        return sqlite_count

    import psycopg

    original = psycopg.Connection.rollback

    def counting(self: Any) -> None:
        seen[id(self)] = seen.get(id(self), 0) + 1
        original(self)

    monkeypatch.setattr(psycopg.Connection, "rollback", counting)
    return lambda session: seen.get(id(pooled(session)), 0)


def _read_in_get_session() -> None:
    with DatabaseManager.get_session() as session:
        session.execute(select(probe)).all()


@with_db_session
def _read_in_decorated_call() -> None:
    get_current_session().execute(select(probe)).all()


def _fail_in_get_session() -> None:
    with pytest.raises(ZeroDivisionError), DatabaseManager.get_session() as session:
        session.execute(select(probe)).all()
        1 / 0  # noqa: B018


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        (_read_in_get_session, 0),  # COMMIT, then no ROLLBACK on check-in
        (_read_in_decorated_call, 0),
        (_fail_in_get_session, 1),  # the unit's own ROLLBACK, and no second one
    ],
)
def test_a_unit_that_ended_cleanly_is_not_reset_again(
    one_connection: Database, rollbacks: RollbackCount, unit: Callable[[], None], expected: int
) -> None:
    with DatabaseManager.get_session() as session:
        connection = pooled(session)
        before = rollbacks(session)
    unit()
    with DatabaseManager.get_session() as session:
        assert pooled(session) is connection
        assert rollbacks(session) - before == expected


def test_a_connection_that_may_hold_a_snapshot_is_reset(
    one_connection: Database,
    db_settings: DatabaseSettings,
    backend: str,
    rollbacks: RollbackCount,
) -> None:
    with DatabaseManager.get_session() as session:
        connection = pooled(session)
        before = rollbacks(session)

    raw = one_connection.engine.raw_connection()
    assert raw.dbapi_connection is connection
    cursor = raw.cursor()
    if backend == "postgresql":
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    elif backend == "sqlite":
        cursor.execute("BEGIN")  # the engine runs sqlite3 in autocommit mode
    cursor.execute("SELECT COUNT(*) FROM reset_probe")
    assert cursor.fetchone()[0] == 0
    if backend == "mariadb":
        # The plain SELECT opened a REPEATABLE READ snapshot (PyMySQL's IN_TRANS flag may
        # still be clear, which is why it cannot decide the reset).
        cursor.execute("SELECT @@in_transaction")
        assert cursor.fetchone()[0] == 1
    cursor.close()
    raw.close()  # back to the pool without COMMIT or ROLLBACK

    writer = build_engine(db_settings, pooled=False)
    try:
        with writer.begin() as conn:
            conn.execute(insert(probe).values(id=1))
    finally:
        writer.dispose()

    with DatabaseManager.get_session() as session:
        assert pooled(session) is connection
        assert session.execute(select(func.count()).select_from(probe)).scalar_one() == 1
        assert rollbacks(session) - before == 1


def _stranger_inserts_after_a_commit(database: Database, row_id: int) -> None:
    """A unit commits, then code on the same checkout INSERTs through the driver directly
    and returns the connection without committing."""
    with database.engine.connect() as conn:
        conn.execute(select(probe)).all()
        conn.commit()
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        if conn.dialect.name == "sqlite":
            cursor.execute("BEGIN")  # the engine's sqlite3 would not begin on its own
        cursor.execute(f"INSERT INTO reset_probe (id) VALUES ({row_id})")
        cursor.close()


def _committed(db_settings: DatabaseSettings) -> list[int]:
    """The probe rows another connection sees."""
    other = build_engine(db_settings, pooled=False)
    try:
        with other.connect() as conn:
            return list(conn.execute(select(probe.c.id).order_by(probe.c.id)).scalars())
    finally:
        other.dispose()


def test_raw_driver_use_after_a_commit_is_rolled_back_at_check_in(
    one_connection: Database, db_settings: DatabaseSettings
) -> None:
    _stranger_inserts_after_a_commit(one_connection, 99)
    with DatabaseManager.get_session() as session:  # the same, only connection
        session.execute(insert(probe).values(id=1))
    assert _committed(db_settings) == [1]


def test_a_raw_select_after_a_commit_leaves_no_stale_snapshot(
    one_connection: Database, db_settings: DatabaseSettings, backend: str
) -> None:
    with one_connection.engine.connect() as conn:
        conn.execute(select(probe)).all()
        conn.commit()
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        if backend == "sqlite":
            cursor.execute("BEGIN")
        elif backend == "postgresql":
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT COUNT(*) FROM reset_probe")  # a snapshot is taken here
        assert cursor.fetchone()[0] == 0
        cursor.close()

    writer = build_engine(db_settings, pooled=False)
    try:
        with writer.begin() as conn:
            conn.execute(insert(probe).values(id=5))
    finally:
        writer.dispose()

    with DatabaseManager.get_session() as session:  # the same, only connection
        assert session.execute(select(func.count()).select_from(probe)).scalar_one() == 1


def test_a_cursor_taken_before_a_commit_and_used_after_it_is_rolled_back(
    one_connection: Database, db_settings: DatabaseSettings, backend: str
) -> None:
    with one_connection.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        conn.execute(select(probe)).all()
        conn.commit()
        if backend == "sqlite":
            cursor.execute("BEGIN")
        cursor.execute("INSERT INTO reset_probe (id) VALUES (98)")
        cursor.close()
    with DatabaseManager.get_session() as session:
        session.execute(insert(probe).values(id=2))
    assert _committed(db_settings) == [2]
