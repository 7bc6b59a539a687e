"""Only an outage is a 503: a conflict, a rejected statement or refused access is a 500.

The errors are real ones, raised by SQLite and the pool of an engine of ours; the routes
of the test re-raise them so each reaches the app's error handlers as it would from a view.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import URL

from studyhall.app import create_app
from studyhall.config import DatabaseSettings
from studyhall.db.backends import ensure_database
from studyhall.db.engine import Database
from studyhall.errors import (
    ConflictError,
    DatabasePermissionError,
    DatabaseStatementError,
    DatabaseUnavailableError,
    PoolExhaustedError,
)


def _capture(database: Database, sql: str) -> BaseException:
    try:
        with database.unit_of_work() as session:
            session.execute(text(sql))
    except Exception as exc:  # noqa: BLE001 - the error is what we want
        return exc
    raise AssertionError(f"{sql!r} did not fail")


def _settings(path: Path | str, **query: str) -> DatabaseSettings:
    url = URL.create("sqlite+pysqlite", database=str(path), query=query)
    return DatabaseSettings(url=url, source="DATABASE_URL")


@pytest.fixture(scope="module")
def real_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BaseException]:
    """One real error of each kind, made by SQLite through an engine of ours."""
    folder = tmp_path_factory.mktemp("errors")
    settings = _settings(folder / "db.sqlite3")
    ensure_database(settings)
    busy = Database(settings, connect_args={"timeout": 0.05, "check_same_thread": False})
    holder = sqlite3.connect(settings.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    errors = {"conflict": _capture(busy, "CREATE TABLE t (id INTEGER)")}
    holder.execute("ROLLBACK")
    holder.close()
    busy.dispose()

    plain = Database(settings, pool_size=1, max_overflow=0, pool_timeout=0.05)
    errors["statement"] = _capture(plain, "SELEC 1")
    # Another thread holds the only connection: this one waits the pool timeout. (Were
    # it this thread's own, the pool would raise PoolExhausted at once.)
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with plain.engine.connect():
            taken.set()
            release.wait(10)

    holder_thread = threading.Thread(target=hold)
    holder_thread.start()
    taken.wait(10)
    try:
        errors["pool_timeout"] = _capture(plain, "SELECT 1")
    finally:
        release.set()
        holder_thread.join()
    try:
        with plain.engine.connect():
            errors["pool_exhausted"] = _capture(plain, "SELECT 1")
    finally:
        plain.dispose()

    read_only = Database(_settings(f"file:{settings.database}?mode=ro", uri="true"))
    errors["permission"] = _capture(read_only, "CREATE TABLE t (id INTEGER)")
    read_only.dispose()

    missing = Database(_settings(folder / "gone" / "db.sqlite3"))
    errors["unavailable"] = _capture(missing, "SELECT 1")
    missing.dispose()
    return errors


def test_the_errors_are_what_they_claim(real_errors: dict[str, BaseException]) -> None:
    assert isinstance(real_errors["conflict"], ConflictError)
    assert isinstance(real_errors["statement"], DatabaseStatementError)
    assert isinstance(real_errors["permission"], DatabasePermissionError)
    assert isinstance(real_errors["unavailable"], DatabaseUnavailableError)
    assert isinstance(real_errors["pool_timeout"], sa_exc.TimeoutError)
    assert not isinstance(real_errors["pool_timeout"], PoolExhaustedError)
    assert isinstance(real_errors["pool_exhausted"], PoolExhaustedError)
    for name in ("conflict", "statement", "permission", "unavailable"):
        assert isinstance(real_errors[name], sa_exc.OperationalError)  # SQLite says so


@pytest.fixture
def app(tmp_path: Path, real_errors: dict[str, BaseException]) -> Iterator[Flask]:
    settings = _settings(tmp_path / "app.sqlite3")
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_SETTINGS": settings})

    @app.get("/raise/<name>")
    def raise_(name: str) -> str:
        raise real_errors[name]

    yield app


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("unavailable", 503),
        ("pool_timeout", 503),  # every connection stayed busy: a load peak, it passes
        ("conflict", 500),
        ("statement", 500),
        ("permission", 500),
        ("pool_exhausted", 500),  # the pool is too small for the threads: fix the sizing
    ],
)
def test_only_outages_are_503(
    app: Flask, name: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get(f"/raise/{name}")
    page = response.get_data(as_text=True)
    assert response.status_code == status
    assert "Traceback" not in page and "sqlite3" not in page
    if status == 503:
        assert response.headers["Retry-After"] == "30"
        assert "Temporarily unavailable" in page
    else:
        assert "Something went wrong" in page
        assert "Retry-After" not in response.headers
    assert f"/raise/{name}" in caplog.text  # logged either way
