"""pytest plugin: every test runs inside one transaction that is rolled back at its end.

Registered through the `pytest11` entry point, so installing studyhall makes the
fixtures available:

- `db_engine` (session scope): the configured database (DATABASE_URL / DB_* / embedded
  SQLite, as for the application), with every table created.
- `db_session` (per test): a session on one connection whose outer transaction is rolled
  back after the test. While it is active, every unit of work the code under test opens
  (`@with_db_session`, `DatabaseManager.get_session()`, `requires_new`, `nested`) runs
  on that same connection inside a SAVEPOINT, so its COMMITs, savepoints and on_commit
  callbacks behave as in production and still leave nothing behind.

This is SQLAlchemy's "join a Session into an external transaction" recipe with
`join_transaction_mode="create_savepoint"`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from studyhall.database import DatabaseManager
from studyhall.db.session import StudyhallSession


@pytest.fixture(scope="session")
def db_engine() -> Iterator[Engine]:
    """The configured engine, with the database and every table created."""
    DatabaseManager.initialize()
    DatabaseManager.ensure_database_exists()
    DatabaseManager.create_tables()
    database = DatabaseManager.database()
    yield database.engine
    DatabaseManager.cleanup()


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back when the test ends."""
    database = DatabaseManager.database()
    connection = db_engine.connect()
    outer = connection.begin()
    factory: sessionmaker[Session] = sessionmaker(
        bind=connection,
        class_=StudyhallSession,
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
    )
    original = database.session_factory
    database.session_factory = factory
    session = factory()
    try:
        yield session
    finally:
        database.session_factory = original
        session.close()
        if outer.is_active:
            outer.rollback()
        connection.close()


__all__ = [
    "db_engine",
    "db_session",
]
