"""A COMMIT whose reply is lost says its outcome is unknown; a definite failure says so."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from studyhall.database import DatabaseManager
from studyhall.errors import CommitOutcomeUnknownError
from tests.database.notes import add_note, committed_ids


def _kill(settings, backend_id: int) -> None:
    killer = create_engine(settings.url, poolclass=NullPool)
    try:
        with killer.connect() as conn:
            if settings.backend == "postgresql":
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend_id})
            else:
                conn.exec_driver_sql(f"KILL {int(backend_id)}")
    finally:
        killer.dispose()


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"], indirect=True)
def test_commit_on_a_lost_connection_reports_an_unknown_outcome(notes_db, db_settings):
    query = (
        "SELECT pg_backend_pid()"
        if db_settings.backend == "postgresql"
        else ("SELECT CONNECTION_ID()")
    )
    with pytest.raises(CommitOutcomeUnknownError, match="may or may not") as info:
        with DatabaseManager.get_session() as session:
            add_note(session, 1)
            session.flush()
            _kill(db_settings, session.execute(text(query)).scalar_one())
    assert "check whether its changes are in the database" in str(info.value)
    assert committed_ids(db_settings) == []  # the server rolled it back, as it happens
    # The pool replaced the dead connection: the next unit works.
    with DatabaseManager.get_session() as session:
        add_note(session, 2)
    assert committed_ids(db_settings) == [2]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_definite_failure_at_commit_is_not_called_unknown(notes_db, db_settings):
    with notes_db.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE uniq (v INTEGER, CONSTRAINT uniq_v UNIQUE (v) "
            "DEFERRABLE INITIALLY DEFERRED)"
        )
    with pytest.raises(IntegrityError):
        with DatabaseManager.get_session() as session:
            session.execute(text("INSERT INTO uniq VALUES (1), (1)"))
