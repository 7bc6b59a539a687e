"""Fixtures of the service tests: a world to run the lifecycle on, rolled back per test."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from studyhall.database import DatabaseManager
from tests.models.conftest import db_database
from tests.models.factories import World, make_world

__all__ = ["db_database", "world"]


@pytest.fixture
def world(db_session: Session) -> World:
    """A school with a course, three units, two agents and two enrolled students."""
    with DatabaseManager.get_session():
        return make_world(students=2)
