"""Backend behaviour that studyhall sets up: strict lengths, utf8mb4, SQLite pragmas."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DataError, StatementError

from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import build_engine
from tests.database.notes import add_note, committed_ids, notes


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


def test_a_users_do_connect_listener_is_called_and_honoured(
    db_settings: DatabaseSettings, backend: str
) -> None:
    # The documented way to log in with a short-lived token: set the password per connect.
    # The URL's own password is wrong; only the listener's value lets MariaDB in.
    wrong = db_settings.url.set(password="not-the-password") if backend != "sqlite" else None
    settings = dataclasses.replace(db_settings, url=wrong) if wrong else db_settings
    engine = build_engine(settings)
    calls: list[str] = []

    @event.listens_for(engine, "do_connect")
    def provide_token(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        calls.append("called")
        if backend != "sqlite":
            cparams["password"] = db_settings.url.password or ""

    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        assert calls == ["called"]
    finally:
        engine.dispose()
