"""Fixtures shared by the whole suite: backends, throwaway databases, a clean environment.

Every backend test runs on SQLite, MariaDB and PostgreSQL. A server test skips with a
one-line reason when its server does not answer, unless STUDYHALL_REQUIRE_SERVERS=1
(set by CI), which turns that skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import drop_database, ensure_database
from studyhall.db.engine import Database

BACKENDS = ("sqlite", "mariadb", "postgresql")
SERVER_URLS = {
    "mariadb": os.environ.get(
        "STUDYHALL_TEST_MARIADB_URL", "mysql+pymysql://root:@127.0.0.1:3306/test"
    ),
    "postgresql": os.environ.get(
        "STUDYHALL_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
}
pytest_plugins = ["pytester", "tests.replication"]

REQUIRE_SERVERS = os.environ.get("STUDYHALL_REQUIRE_SERVERS") == "1"


@cache
def server_problem(backend: str) -> str | None:
    """Why the test server for `backend` cannot be used, or None when it answers."""
    url = make_url(SERVER_URLS[backend])
    connect_args = {"connect_timeout": 3}
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means: not usable here
        return f"{backend} at {url.host}:{url.port} did not answer ({type(exc).__name__})"
    finally:
        engine.dispose()
    return None


def require_backend(backend: str) -> None:
    """Skip (or, under STUDYHALL_REQUIRE_SERVERS=1, fail) when the server is not there."""
    if backend == "sqlite":
        return
    problem = server_problem(backend)
    if problem is None:
        return
    if REQUIRE_SERVERS:
        pytest.fail(f"{problem}; STUDYHALL_REQUIRE_SERVERS=1 makes this a failure")
    pytest.skip(f"{problem}; start it to run the {backend} tests")


def throwaway_settings(backend: str, tmp_path: Path, **options: object) -> DatabaseSettings:
    """Settings for a new, uniquely named database on `backend`."""
    name = f"studyhall_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        url = URL.create("sqlite+pysqlite", database=str(tmp_path / f"{name}.sqlite3"))
        return DatabaseSettings(url=url, source="DATABASE_URL", **options)  # type: ignore[arg-type]
    url = make_url(SERVER_URLS[backend]).set(database=name)
    return DatabaseSettings(url=url, source="DATABASE_URL", **options)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test starts with no DATABASE_URL, DATABASE_REPLICA_URLS or DB_* variables, no
    .env, and no initialized manager."""
    for name in list(os.environ):
        if name in ("DATABASE_URL", "DATABASE_REPLICA_URLS", "STUDYHALL_ENV") or name.startswith(
            "DB_"
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    DatabaseManager.cleanup()
    yield
    DatabaseManager.cleanup()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name; the test runs once per backend."""
    name: str = request.param
    require_backend(name)
    return name


@pytest.fixture
def db_settings(backend: str, tmp_path: Path) -> Iterator[DatabaseSettings]:
    """Settings of a throwaway database on `backend`, created before and dropped after."""
    settings = throwaway_settings(backend, tmp_path)
    ensure_database(settings)
    yield settings
    drop_database(settings)


@pytest.fixture
def database(db_settings: DatabaseSettings) -> Iterator[Database]:
    """The process-wide DatabaseManager, initialized on a throwaway database."""
    db = DatabaseManager.initialize(db_settings)
    yield db
    DatabaseManager.cleanup()


@pytest.fixture
def tables(database: Database) -> Database:
    """`database` with every studyhall table created."""
    DatabaseManager.create_tables()
    return database
