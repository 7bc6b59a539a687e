"""The ping bypass window: a connection returned to the pool less than DB_PING_BYPASS_MS
ago is handed out without a ping; one that is dead all the same has the unit's first
statement run again, once, on a new connection.

Round trips are counted where PyMySQL sends them (`_execute_command`), pings on every
backend where the dialect sends them (`do_ping`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from studyhall.config import DatabaseSettings, load_settings
from studyhall.database import DatabaseManager, get_current_session, with_db_session
from studyhall.db.engine import Database
from studyhall.errors import ConfigurationError, DatabaseUnavailableError
from tests.database.notes import add_note, committed_ids, create_notes

SERVER_ENV = {"DB_USER": "u", "DB_PASSWORD": "", "DB_HOST": "h", "DB_NAME": "n"}
SERVERS = ["mariadb", "postgresql"]
KILL = {
    "mariadb": ("SELECT CONNECTION_ID()", "KILL {}"),
    "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})"),
}
STILL_THERE = {
    "mariadb": "SELECT COUNT(*) FROM information_schema.processlist WHERE id = :id",
    "postgresql": "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = :id",
}


# -- the setting -------------------------------------------------------------------------


def test_the_window_defaults_to_500_ms() -> None:
    settings = load_settings(SERVER_ENV)
    assert settings.ping_bypass_ms == 500
    assert "ping_bypass_ms=500" in repr(settings)


@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("250", 250), ("300000", 300_000)])
def test_the_window_is_read_from_the_environment(raw: str, expected: int) -> None:
    assert load_settings({**SERVER_ENV, "DB_PING_BYPASS_MS": raw}).ping_bypass_ms == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-1", "DB_PING_BYPASS_MS='-1' is out of range; use a value from 0 to 300000"),
        ("300001", "DB_PING_BYPASS_MS='300001' is out of range"),
        ("0.5", "DB_PING_BYPASS_MS='0.5' is not a whole number"),
        ("soon", "DB_PING_BYPASS_MS='soon' is not a whole number"),
    ],
)
def test_a_bad_window_is_refused(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings({**SERVER_ENV, "DB_PING_BYPASS_MS": raw})


# -- pings -------------------------------------------------------------------------------


@pytest.fixture
def notes(db_settings: DatabaseSettings) -> Iterator[Database]:
    """A pool of one connection on a throwaway database with the notes table."""
    database = Database(dataclasses.replace(db_settings, pool_size=1, max_overflow=0))
    create_notes(database.engine)
    yield database
    database.dispose()


def count_pings(database: Database) -> Counter[str]:
    """Count the pings the engine's dialect sends from now on."""
    counts: Counter[str] = Counter()
    dialect: Any = database.engine.dialect
    ping = dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        counts["ping"] += 1
        return bool(ping(dbapi_connection))

    dialect.do_ping = counting
    return counts


def _unit(database: Database, sql: str = "SELECT 1") -> None:
    with database.unit_of_work() as session:
        session.execute(text(sql))


def test_a_connection_used_within_the_window_is_not_pinged(notes: Database) -> None:
    _unit(notes)  # a fresh connection: never pinged
    pings = count_pings(notes)
    for _ in range(20):
        _unit(notes)
    assert pings["ping"] == 0


def test_a_connection_idle_longer_than_the_window_is_pinged(
    db_settings: DatabaseSettings,
) -> None:
    # A window long enough that back-to-back units stay inside it on a busy machine.
    settings = dataclasses.replace(db_settings, pool_size=1, max_overflow=0, ping_bypass_ms=1000)
    database = Database(settings)
    try:
        _unit(database)
        pings = count_pings(database)
        _unit(database)
        assert pings["ping"] == 0  # returned a moment ago
        time.sleep(1.1)
        _unit(database)
        assert pings["ping"] == 1
        _unit(database)
        assert pings["ping"] == 1  # the check-in restarts the window
    finally:
        database.dispose()


def test_a_window_of_0_pings_every_reuse(db_settings: DatabaseSettings) -> None:
    settings = dataclasses.replace(db_settings, pool_size=1, max_overflow=0, ping_bypass_ms=0)
    database = Database(settings)
    try:
        _unit(database)
        pings = count_pings(database)
        for _ in range(5):
            _unit(database)
        assert pings["ping"] == 5
    finally:
        database.dispose()


# -- round trips on MariaDB --------------------------------------------------------------


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """What PyMySQL sends: `ping` for COM_PING, else the first word of each query."""
    counts: Counter[str] = Counter()
    original = pymysql.connections.Connection._execute_command

    def counting(self: Any, command: int, sql: Any) -> Any:
        if command == pymysql.constants.COMMAND.COM_PING:
            counts["ping"] += 1
        elif command == pymysql.constants.COMMAND.COM_QUERY:
            statement = sql.decode() if isinstance(sql, bytes) else str(sql)
            counts[statement.split(None, 1)[0].upper()] += 1
        else:
            counts[f"command {command}"] += 1
        return original(self, command, sql)

    monkeypatch.setattr(pymysql.connections.Connection, "_execute_command", counting)
    return counts


@with_db_session
def _read_note(note_id: int) -> None:
    get_current_session().execute(text("SELECT id FROM notes WHERE id = :id"), {"id": note_id})


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
def test_a_hot_unit_is_two_round_trips_on_mariadb(
    db_settings: DatabaseSettings, wire: Counter[str]
) -> None:
    DatabaseManager.initialize(db_settings)
    create_notes(DatabaseManager.database().engine)
    _read_note(1)  # the connection is open and back in the pool
    wire.clear()
    units = 20
    for i in range(units):
        _read_note(i)
    assert wire == {"SELECT": units, "COMMIT": units}


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
def test_an_idle_connection_costs_one_ping_more_on_mariadb(
    db_settings: DatabaseSettings, wire: Counter[str]
) -> None:
    DatabaseManager.initialize(dataclasses.replace(db_settings, ping_bypass_ms=50))
    create_notes(DatabaseManager.database().engine)
    _read_note(1)
    time.sleep(0.1)
    wire.clear()
    _read_note(1)
    assert wire == {"ping": 1, "SELECT": 1, "COMMIT": 1}


# -- a dead connection inside the window -------------------------------------------------


def kill_connection(settings: DatabaseSettings, server: str, victim: int) -> None:
    """End connection `victim` from another connection and wait until it is gone."""
    killer = create_engine(settings.url, poolclass=NullPool)
    try:
        with killer.connect() as conn:
            conn.execute(text(KILL[server][1].format(int(victim))))
            conn.commit()
            deadline = time.monotonic() + 30
            while conn.execute(text(STILL_THERE[server]), {"id": victim}).scalar():
                assert time.monotonic() < deadline, "the server did not end the connection"
                conn.rollback()
                time.sleep(0.01)
    finally:
        killer.dispose()


def _whoami(database: Database, server: str) -> int:
    with database.unit_of_work() as session:
        return int(session.execute(text(KILL[server][0])).scalar_one())


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_a_dead_connection_runs_the_first_statement_again_on_a_new_one(
    notes: Database, db_settings: DatabaseSettings, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    victim = _whoami(notes, backend)
    kill_connection(db_settings, backend, victim)
    pings = count_pings(notes)
    with caplog.at_level(logging.WARNING, logger="studyhall"):
        with notes.unit_of_work() as session:
            add_note(session, 1)  # the first statement: it fails, then runs again
            assert session.execute(text(KILL[backend][0])).scalar() != victim
    assert pings["ping"] == 0
    assert committed_ids(db_settings) == [1]
    warned = [r.getMessage() for r in caplog.records if "first statement" in r.getMessage()]
    assert len(warned) == 1 and "password" not in warned[0]


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_a_unit_with_retries_runs_once_when_its_first_statement_is_run_again(
    notes: Database, db_settings: DatabaseSettings, backend: str
) -> None:
    DatabaseManager.initialize(db_settings)
    database = DatabaseManager.database()
    create_notes(database.engine)
    calls: list[int] = []

    @with_db_session(retries=3)
    def add(note_id: int) -> int:
        calls.append(note_id)
        add_note(get_current_session(), note_id)
        return int(get_current_session().execute(text(KILL[backend][0])).scalar_one())

    victim = add(1)
    kill_connection(db_settings, backend, victim)
    assert add(2) != victim
    assert calls == [1, 2]
    assert committed_ids(db_settings) == [1, 2]


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_a_later_statement_on_a_dead_connection_is_not_run_again(
    notes: Database, db_settings: DatabaseSettings, backend: str
) -> None:
    with pytest.raises(DatabaseUnavailableError) as info:
        with notes.unit_of_work() as session:
            add_note(session, 1)
            victim = session.execute(text(KILL[backend][0])).scalar_one()
            kill_connection(db_settings, backend, int(victim))
            add_note(session, 2)
    assert info.value.connection_invalidated  # type: ignore[attr-defined]
    assert committed_ids(db_settings) == []
    _unit(notes)  # the pool recovered


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_a_unit_with_an_isolation_level_pings_its_connection(
    notes: Database, db_settings: DatabaseSettings, backend: str
) -> None:
    # The level is set before any statement, outside the statement that could run again:
    # the checkout pings instead, and replaces the dead connection.
    victim = _whoami(notes, backend)
    kill_connection(db_settings, backend, victim)
    pings = count_pings(notes)
    with notes.unit_of_work(isolation_level="SERIALIZABLE") as session:
        add_note(session, 1)
        assert session.execute(text(KILL[backend][0])).scalar() != victim
    assert pings["ping"] == 1
    assert committed_ids(db_settings) == [1]
