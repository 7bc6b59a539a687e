"""Faults: killed connections, silent and absent servers, wrong passwords, leaks."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager, with_db_session
from studyhall.database.session_context import get_current_session, has_active_session
from studyhall.db.backends import drop_database, ensure_database
from studyhall.db.engine import Database
from studyhall.errors import DatabaseUnavailableError
from tests.conftest import SERVER_URLS, require_backend, throwaway_settings
from tests.database.notes import Note, add_note, committed_ids, create_notes

KILL = {
    "mariadb": ("SELECT CONNECTION_ID()", "KILL {}"),
    "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})"),
}
STILL_THERE = {
    "mariadb": "SELECT COUNT(*) FROM information_schema.processlist WHERE id = :id",
    "postgresql": "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = :id",
}


def wait_until_gone(conn: Connection, server: str, victim: int, deadline: float = 30) -> None:
    """Poll until the server has ended connection `victim` (pg_terminate_backend only
    signals it); fail after `deadline` seconds."""
    until = time.monotonic() + deadline
    while conn.execute(text(STILL_THERE[server]), {"id": victim}).scalar():
        if time.monotonic() > until:
            pytest.fail(f"the {server} server did not end connection {victim} in {deadline} s")
        conn.rollback()  # a fresh snapshot for the next look
        time.sleep(0.01)


@pytest.mark.parametrize("server", ["mariadb", "postgresql"])
def test_connection_killed_between_units_of_work(server, tmp_path):
    require_backend(server)
    settings = replace(throwaway_settings(server, tmp_path), pool_size=1, max_overflow=0)
    ensure_database(settings)
    try:
        database = DatabaseManager.initialize(settings)
        create_notes(database.engine)
        whoami, kill = KILL[server]
        with DatabaseManager.get_session() as session:
            add_note(session, 1)
            victim = session.execute(text(whoami)).scalar()
        killer = create_engine(settings.url, poolclass=NullPool)
        with killer.connect() as conn:
            conn.execute(text(kill.format(int(victim))))
            conn.commit()
            wait_until_gone(conn, server, int(victim))
        killer.dispose()
        with DatabaseManager.get_session() as session:
            add_note(session, 2)
            assert session.execute(text(whoami)).scalar() != victim
        assert committed_ids(settings) == [1, 2]
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)


class SilentServer:
    """A TCP listener that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def _settings_at(server: str, port: int, timeout: int = 2) -> DatabaseSettings:
    url = make_url(SERVER_URLS[server]).set(host="127.0.0.1", port=port, database="nowhere")
    return DatabaseSettings(url=url, source="DATABASE_URL", connect_timeout=timeout)


@pytest.mark.parametrize("server", ["mariadb", "postgresql"])
def test_silent_server_fails_within_the_connect_timeout(server):
    silent = SilentServer()
    try:
        database = Database(_settings_at(server, silent.port, timeout=2))
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailableError, match="did not answer in time"):
            with database.unit_of_work() as session:
                session.execute(text("SELECT 1"))
        elapsed = time.monotonic() - started
        # A hang would go on forever; the bound is the timeout plus generous slack.
        assert elapsed < 2 * 4 + 5, elapsed
        database.dispose()
    finally:
        silent.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("server", ["mariadb", "postgresql"])
def test_refused_port_is_a_clear_error(server):
    database = Database(_settings_at(server, _free_port()))
    with pytest.raises(DatabaseUnavailableError) as info:
        with database.unit_of_work() as session:
            session.execute(text("SELECT 1"))
    assert "check that the server is running" in str(info.value)
    assert "127.0.0.1" in str(info.value)
    database.dispose()


@pytest.fixture
def notes_pool_of_one(db_settings):
    settings = replace(db_settings, pool_size=1, max_overflow=0, pool_timeout=1)
    database = DatabaseManager.initialize(settings)
    create_notes(database.engine)
    return database


def test_no_leaks_after_raising_failing_commit_and_interrupt(notes_pool_of_one, db_settings):
    database = notes_pool_of_one

    @with_db_session
    def raises():
        add_note(get_current_session(), 1)
        raise ValueError("boom")

    @with_db_session
    def add_orm(note_id):
        get_current_session().add(Note(id=note_id, body="x"))

    @with_db_session
    def interrupted():
        add_note(get_current_session(), 3)
        raise KeyboardInterrupt

    for _ in range(3):  # repeated: a leaked connection would exhaust the pool of one
        with pytest.raises(ValueError):
            raises()
        if not committed_ids(db_settings):
            add_orm(2)
        with pytest.raises(IntegrityError):
            add_orm(2)  # fails inside commit, at the flush on exit
        with pytest.raises(KeyboardInterrupt):
            interrupted()
        assert database.engine.pool.checkedout() == 0
        assert not has_active_session()
    assert committed_ids(db_settings) == [2]
