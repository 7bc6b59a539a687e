"""Backend behaviour that studyhall sets up: strict lengths, utf8mb4, SQLite pragmas."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DataError, StatementError

from studyhall.database import DatabaseManager
from tests.database.notes import add_note, committed_ids, create_notes, notes


@pytest.fixture
def notes_db(database):
    create_notes(database.engine)
    return database


def test_four_byte_emoji_round_trips(notes_db, db_settings):
    body = "ok 🎓🦄 ünï"
    with DatabaseManager.get_session() as session:
        add_note(session, 1, body)
    with DatabaseManager.get_session() as session:
        assert session.scalar(select(notes.c.body).where(notes.c.id == 1)) == body


def test_over_long_string_raises_instead_of_truncating(notes_db, db_settings, backend):
    too_long = "x" * 25  # the column is String(20)
    if backend == "sqlite":
        # SQLite has no length limit at all: the value is kept whole, never truncated.
        with DatabaseManager.get_session() as session:
            add_note(session, 1, too_long)
        with DatabaseManager.get_session() as session:
            assert session.scalar(select(notes.c.body)) == too_long
        return
    with pytest.raises((DataError, StatementError)):
        with DatabaseManager.get_session() as session:
            add_note(session, 1, too_long)
    assert committed_ids(db_settings) == []


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
def test_mysql_session_is_strict_and_local_infile_is_off(database):
    with database.engine.connect() as conn:
        mode = conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar()
        assert "STRICT_ALL_TABLES" in mode and "STRICT_TRANS_TABLES" in mode
        charset = conn.exec_driver_sql("SELECT @@character_set_connection").scalar()
        assert charset == "utf8mb4"
    raw = database.engine.raw_connection()
    try:
        assert not raw.driver_connection._local_infile  # type: ignore[union-attr]
    finally:
        raw.close()
