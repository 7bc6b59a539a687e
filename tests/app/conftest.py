"""Fixtures of the web-app tests: the app on a throwaway database holding `make_world()`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from studyhall.app import create_app
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import drop_database, ensure_database
from studyhall.db.engine import Database
from tests.app.support import World, make_world
from tests.conftest import BACKENDS, require_backend, throwaway_settings


@pytest.fixture
def world(tables: Database) -> World:
    """Two committed schools with their people, courses and study sessions."""
    with DatabaseManager.get_session():
        return make_world()


@pytest.fixture
def app(world: World) -> Flask:
    """The app on the `world` database (the manager is already initialized on it)."""
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret"})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module", params=BACKENDS)
def shared_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DatabaseSettings, World]]:
    """One `make_world()` database per backend for a whole module of read-only tests."""
    require_backend(request.param)
    settings = throwaway_settings(request.param, tmp_path_factory.mktemp("shared"))
    ensure_database(settings)
    try:
        DatabaseManager.cleanup()
        DatabaseManager.initialize(settings)
        DatabaseManager.create_tables()
        with DatabaseManager.get_session():
            world = make_world()
        DatabaseManager.cleanup()
        yield settings, world
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)


@pytest.fixture
def shared_client(shared_world: tuple[DatabaseSettings, World]) -> FlaskClient:
    """A client of an app on the module's shared database. Tests must not write to it."""
    settings, _ = shared_world
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_SETTINGS": settings})
    return app.test_client()
