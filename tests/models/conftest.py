"""Fixtures of the model tests: the studyhall plugin's `db_database`, one per backend.

Creating a database and its tables costs about half a second on a server; this pays it
once per module and backend. Each test then asks for the plugin's `db_session`
(`studyhall.testing`): it runs in one transaction that is rolled back at its end, and the
units of work of the code under test are SAVEPOINTs in it. Tests that need real commits
seen by other connections (threads, migrations) use the `tables` fixture of
tests/conftest.py instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from studyhall.db.backends import drop_database, ensure_database
from studyhall.db.engine import Database
from studyhall.models import Base
from tests.conftest import BACKENDS, require_backend, throwaway_settings


@pytest.fixture(scope="module", params=BACKENDS)
def db_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A throwaway database with every table, shared by the tests of one module."""
    require_backend(request.param)
    settings = throwaway_settings(request.param, Path(tmp_path_factory.mktemp("db")))
    ensure_database(settings)
    database = Database(settings)
    try:
        Base.metadata.create_all(database.engine)
        yield database
    finally:
        database.dispose()
        drop_database(settings)


__all__ = ["db_database"]
