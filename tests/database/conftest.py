"""Fixtures shared by the database-layer tests."""

from __future__ import annotations

import pytest

from studyhall.db.engine import Database
from tests.database.notes import create_notes


@pytest.fixture
def notes_db(database: Database) -> Database:
    """The manager's database with the tests' own `notes` table created."""
    create_notes(database.engine)
    return database
