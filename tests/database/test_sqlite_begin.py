"""SQLite transactions: writers queue on the busy timeout, and users' own BEGIN set-ups work.

A deferred transaction that reads and then writes holds a SHARED lock it cannot upgrade
while another writer is active, so it fails at once with "database is locked" whatever
the busy timeout: writable units begin IMMEDIATE. Read-only units keep a deferred BEGIN.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, insert, select, text
from sqlalchemy.pool import ConnectionPoolEntry

from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import IMMEDIATE_BEGIN, build_engine
from tests.database.notes import create_notes, notes

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

WRITERS = 30


@pytest.fixture
def engine(db_settings: DatabaseSettings) -> Iterator[Engine]:
    engine = build_engine(db_settings)
    create_notes(engine)
    yield engine
    engine.dispose()


def _traced(engine: Engine) -> list[str]:
    """The statements every new connection of `engine` runs from now on."""
    statements: list[str] = []

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    engine.dispose()  # connections made from now on are traced
    return statements


def test_concurrent_units_that_read_then_write_all_succeed(db_settings: DatabaseSettings) -> None:
    database = DatabaseManager.initialize(db_settings)
    create_notes(database.engine)
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def student(n: int) -> None:
        try:
            start.wait()
            with DatabaseManager.get_session() as session:
                count = session.scalar(select(func.count()).select_from(notes))
                session.execute(insert(notes).values(id=n, body=f"seen {count}"))
        except BaseException as exc:  # noqa: B036 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=student, args=(n,)) for n in range(1, WRITERS + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with DatabaseManager.get_session() as session:
        assert session.scalar(select(func.count()).select_from(notes)) == WRITERS


def test_writable_units_begin_immediate_and_read_only_ones_deferred(engine: Engine) -> None:
    statements = _traced(engine)
    with engine.begin() as conn:
        conn.execute(select(notes)).all()
    token = IMMEDIATE_BEGIN.set(True)
    try:
        with engine.begin() as conn:
            conn.execute(select(notes)).all()
    finally:
        IMMEDIATE_BEGIN.reset(token)
    begins = [s for s in statements if s.upper().startswith("BEGIN")]
    assert begins == ["BEGIN", "BEGIN IMMEDIATE"]


def test_autocommit_gets_no_begin(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(insert(notes).values(id=1, body="kept"))
        conn.rollback()  # nothing to roll back: the insert is already committed
        conn.execute(insert(notes).values(id=2, body="kept too"))
        conn.exec_driver_sql("VACUUM")  # refused inside a transaction
    with engine.connect() as conn:
        assert conn.execute(select(notes.c.id).order_by(notes.c.id)).scalars().all() == [1, 2]
        conn.execute(insert(notes).values(id=3, body="rolled back"))
        conn.rollback()  # the isolation level was reset: back to transactions
        assert conn.execute(select(func.count()).select_from(notes)).scalar() == 2


def test_sqlalchemy_pysqlite_begin_recipe_works_with_our_engine(engine: Engine) -> None:
    # The recipe from SQLAlchemy's pysqlite documentation, as a user would add it.
    @event.listens_for(engine, "connect")
    def do_connect(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def do_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    engine.dispose()
    with engine.begin() as conn:
        conn.execute(insert(notes).values(id=1, body="one"))
    with engine.connect() as conn:
        conn.execute(insert(notes).values(id=2, body="two"))
        conn.rollback()
        with conn.begin_nested():
            conn.execute(insert(notes).values(id=3, body="three"))
        conn.commit()
    with engine.connect() as conn:
        assert conn.execute(select(notes.c.id).order_by(notes.c.id)).scalars().all() == [1, 3]
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
