"""pytest plugin: every test runs inside one transaction that is rolled back at its end.

Registered through the `pytest11` entry point, so installing studyhall makes the
fixtures available:

- `db_database` (session scope): the configured `Database` (DATABASE_URL / DB_* /
  embedded SQLite, as for the application), with the database and every table created.
  Override it in a conftest.py to run the tests on another database; a narrower scope
  (e.g. a module-scoped database per backend) works for `db_session`.
- `db_engine` (session scope): its engine.
- `db_session` (per test): a session inside the test's transaction, which is rolled
  back when the test ends. While it is active, every unit of work the code under test
  opens (`@with_db_session`, `DatabaseManager.get_session()`, `requires_new`, `nested`)
  runs on the test's connection inside a SAVEPOINT, so its COMMITs, savepoints and
  on_commit callbacks behave as in production and still leave nothing behind.
- `db_statements` (per test): counts the SQL statements a block sends to the process's
  default Database (inside `db_session`, the test's database). `with db_statements(3):`
  fails, listing them, unless the block sends exactly 3; `with db_statements.record() as
  seen:` gives `seen.statements` (SQL text, no parameter values) and `seen.count`.
  SAVEPOINTs are not counted, so a count is the same inside `db_session` as in
  production; `all_threads=True` counts other threads' statements too
  (`studyhall.db.recording`).

The public API under the fixtures, for tests that need no fixture or another database:

- `rolled_back(database)`: a context manager that runs its block inside one transaction
  on one connection of `database`, rolled back at the end, and yields the bound
  `Database` (the process's default for the block).
- `Database.bound_to(connection)` (`studyhall.db.engine`): a Database on the same
  engine whose sessions run on `connection`, in SAVEPOINTs of the transaction begun on it
  (SQLAlchemy's "join a Session into an external transaction" recipe,
  `join_transaction_mode="create_savepoint"`).
- `studyhall.db.default.using(database)`: make a Database the process's default for a
  block, restoring the previous one afterwards.

What one connection cannot do, inside `db_session` or `rolled_back`: a `requires_new`
unit is a savepoint inside the unit around it (it commits on its own and is seen at once,
but a unit around it that rolls back afterwards undoes it, unlike production);
`isolation_level` is ignored; a unit of work opened in another thread (e.g. by
`submit_with_session`) raises SessionError. Test those against a database with real
commits instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from studyhall.database import DatabaseManager
from studyhall.db import default
from studyhall.db.engine import Database
from studyhall.db.recording import StatementRecorder, assert_num_statements, record_statements


@contextmanager
def rolled_back(database: Database) -> Iterator[Database]:
    """Run the block in one transaction of `database` that is rolled back at its end.

    Yields `database` bound to one of its connections, made the process's default for
    the block: every unit of work opened in it is a SAVEPOINT of that transaction.
    """
    with database.engine.connect() as connection:
        outer = connection.begin()
        try:
            with default.using(database.bound_to(connection)) as bound:
                yield bound
        finally:
            if outer.is_active:
                outer.rollback()


@pytest.fixture(scope="session")
def db_database() -> Iterator[Database]:
    """The configured database, created with every table when missing."""
    settings = DatabaseManager.validate_environment()
    DatabaseManager.ensure_database_exists(settings)
    database = Database(settings)
    try:
        with default.using(database):
            DatabaseManager.create_tables()
        yield database
    finally:
        database.dispose()


@pytest.fixture(scope="session")
def db_engine(db_database: Database) -> Engine:
    """The engine of `db_database`."""
    return db_database.engine


@pytest.fixture
def db_session(db_database: Database) -> Iterator[Session]:
    """A session inside a transaction that is rolled back when the test ends."""
    with rolled_back(db_database) as bound:
        session = bound.session_factory()
        try:
            yield session
        finally:
            session.close()


class StatementCounter:
    """What `db_statements` gives: statement counts on the process's default Database."""

    def __call__(
        self, expected: int, *, all_threads: bool = False
    ) -> AbstractContextManager[StatementRecorder]:
        """A block that must send exactly `expected` statements (AssertionError otherwise)."""
        return assert_num_statements(expected, all_threads=all_threads)

    def record(self, *, all_threads: bool = False) -> AbstractContextManager[StatementRecorder]:
        """A block whose statements are recorded: `.statements`, `.count`."""
        return record_statements(all_threads=all_threads)


@pytest.fixture
def db_statements() -> StatementCounter:
    """Count or assert the statements a block sends (see `StatementCounter`)."""
    return StatementCounter()


__all__ = [
    "StatementCounter",
    "db_database",
    "db_engine",
    "db_session",
    "db_statements",
    "rolled_back",
]
