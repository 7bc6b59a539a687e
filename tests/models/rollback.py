"""A per-module database per backend, with every test rolled back at its end.

Creating a database and its tables costs about half a second on a server; these fixtures
pay it once per module and backend. Each test then runs in one outer transaction on one
connection; the units of work the code under test opens become SAVEPOINTs in it
(SQLAlchemy's `join_transaction_mode="create_savepoint"` recipe, as in
`studyhall.testing`), so their commits behave as in production and leave nothing behind.
Tests that need real commits seen by other connections (threads, migrations) use the
`tables` fixture of tests/conftest.py instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import drop_database, ensure_database
from studyhall.db.engine import Database
from studyhall.db.session import StudyhallSession
from studyhall.models import Base
from tests.conftest import BACKENDS, require_backend, throwaway_settings


@pytest.fixture(scope="module", params=BACKENDS)
def module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseSettings]:
    """Settings of a database with every table, shared by the tests of one module."""
    require_backend(request.param)
    settings = throwaway_settings(request.param, Path(tmp_path_factory.mktemp("db")))
    ensure_database(settings)
    database = Database(settings)
    try:
        Base.metadata.create_all(database.engine)
    finally:
        database.dispose()
    yield settings
    drop_database(settings)


@pytest.fixture
def rolled_back(module_database: DatabaseSettings) -> Iterator[Database]:
    """DatabaseManager on the module's database; everything the test writes is rolled back."""
    database = DatabaseManager.initialize(module_database)
    connection = database.engine.connect()
    outer = connection.begin()
    database.session_factory = sessionmaker(
        bind=connection,
        class_=StudyhallSession,
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
    )
    try:
        yield database
    finally:
        if outer.is_active:
            outer.rollback()
        connection.close()
        DatabaseManager.cleanup()
