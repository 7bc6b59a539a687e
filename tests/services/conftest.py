"""Fixtures of the service tests: a world to run the lifecycle on, rolled back per test."""

from __future__ import annotations

import pytest

from studyhall.database import DatabaseManager
from studyhall.db.engine import Database
from tests.models.factories import World, make_world
from tests.models.rollback import module_database, rolled_back

__all__ = ["module_database", "rolled_back", "world"]


@pytest.fixture
def world(rolled_back: Database) -> World:
    """A school with a course, three units, two agents and two enrolled students."""
    with DatabaseManager.get_session():
        return make_world(students=2)
