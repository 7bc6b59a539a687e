"""A database that does not exist yet, as a new user meets it (see `fresh_database`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import drop_database
from tests.conftest import throwaway_settings


@pytest.fixture
def fresh_database(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DatabaseSettings]:
    """Settings of a database that does not exist yet; it is dropped afterwards.

    On SQLite nothing is configured: the default ./instance/studyhall.sqlite3 in the test's
    empty working folder. On MariaDB and PostgreSQL, DATABASE_URL names a new database.
    """
    if backend == "sqlite":
        settings = DatabaseManager.validate_environment()
        assert settings.source == "embedded" and not Path("instance").exists()
    else:
        settings = throwaway_settings(backend, tmp_path)
        monkeypatch.setenv("DATABASE_URL", settings.url.render_as_string(hide_password=False))
    yield settings
    DatabaseManager.cleanup()
    drop_database(settings)
