"""`@with_db_session(retries=N)` waits out a server that cannot be reached yet.

A unit whose connection could not be opened sent nothing, so running it again is safe: a
server restarting, a port nobody listens on yet, no host accepting writes during a
failover. A refused login or a missing database is not retried: waiting cannot fix it.
"""

from __future__ import annotations

import pickle
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager, get_current_async_session
from studyhall.db import default
from studyhall.db.decorators import with_db_session
from studyhall.db.engine import Database
from studyhall.db.error_translation import failed_to_connect
from studyhall.db.retry import is_retryable
from studyhall.db.transaction import get_current_session
from studyhall.errors import DatabaseUnavailableError, LoginRefusedError
from tests.database.async_notes import add_note as add_note_async
from tests.database.async_notes import run as run_async
from tests.database.notes import add_note, committed_ids, create_notes
from tests.database.wire import CuttingProxy
from tests.private_mariadb import private_mariadb

PRIVATE_PORT = 3351  # no other test uses it
RETRIES = 10  # the backoff (0.02 s doubling, capped at 1 s) waits at least 2.6 s in all


def _free_port() -> int:
    """A port nobody listens on (free when asked; the test listens on it later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def calls() -> list[float]:
    return []


def _unit(calls: list[float], retries: int):  # type: ignore[no-untyped-def]
    @with_db_session(retries=retries)
    def write(note_id: int) -> None:
        calls.append(time.monotonic())
        add_note(get_current_session(), note_id, "once")

    return write


@pytest.fixture
def unreachable(db_settings: DatabaseSettings) -> Iterator[tuple[DatabaseSettings, int]]:
    """The throwaway database's settings, but at a port where nothing listens yet."""
    setup = Database(db_settings)
    create_notes(setup.engine)
    setup.dispose()
    port = _free_port()
    yield replace(db_settings, url=db_settings.url.set(port=port)), port


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"], indirect=True)
def test_a_unit_that_cannot_connect_runs_again_once_the_server_listens(
    unreachable: tuple[DatabaseSettings, int], db_settings: DatabaseSettings, calls: list[float]
) -> None:
    settings, port = unreachable
    target = (db_settings.url.host or "127.0.0.1", db_settings.url.port or 0)
    database = Database(settings)
    proxies: list[CuttingProxy] = []
    try:
        with default.using(database):
            # Without retries the unit fails: nothing listens there.
            with pytest.raises(DatabaseUnavailableError, match="Cannot connect"):
                _unit(calls, 0)(1)
            assert len(calls) == 1
            calls.clear()
            # The server "comes back" (a plain relay to the real one starts listening).
            timer = threading.Timer(0.3, lambda: proxies.append(CuttingProxy(target, port=port)))
            timer.start()
            _unit(calls, RETRIES)(2)
            timer.join()
    finally:
        database.dispose()
        for proxy in proxies:
            proxy.close()
    assert len(calls) >= 2, "the first run should have found nothing listening"
    assert committed_ids(db_settings) == [2]  # run until it connected, committed once


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"], indirect=True)
@pytest.mark.parametrize("wrong", ["password", "database"])
def test_a_refused_login_or_a_missing_database_is_not_retried(
    db_settings: DatabaseSettings, calls: list[float], wrong: str
) -> None:
    url = db_settings.url
    if wrong == "password":
        url = url.set(username="studyhall_nobody", password="not-the-password")
        expected: type[Exception] = LoginRefusedError
    else:
        url = url.set(database="studyhall_test_missing_x9")
        expected = DatabaseUnavailableError
    database = Database(replace(db_settings, url=url))
    try:
        with default.using(database), pytest.raises(expected):
            _unit(calls, RETRIES)(1)
    finally:
        database.dispose()
    assert len(calls) == 1, "retrying cannot fix a login or a database name"


def test_a_unit_waits_out_a_crashed_server_restarting(calls: list[float]) -> None:
    with private_mariadb(PRIVATE_PORT) as server:
        url: URL = server.url
        settings = DatabaseSettings(url=url, source="DATABASE_URL")
        database = Database(settings)
        try:
            create_notes(database.engine)
            with default.using(database):
                _unit(calls, 0)(1)
                server.kill()  # SIGKILL: the pool's connection is dead, the port closed
                calls.clear()
                with pytest.raises(DatabaseUnavailableError):
                    _unit(calls, 0)(2)
                calls.clear()
                problems: list[BaseException] = []
                began = time.monotonic()

                def restart() -> None:
                    try:
                        server.start()
                    except BaseException as exc:  # noqa: BLE001 - reported below
                        problems.append(exc)

                thread = threading.Thread(target=restart)
                thread.start()
                _unit(calls, 40)(3)  # the restart (InnoDB recovery) takes seconds
                thread.join()
                assert problems == []
            ids = committed_ids(settings)
        finally:
            database.dispose()
    print(f"restart waited out: {len(calls)} runs over {calls[-1] - began:.2f} s")
    assert len(calls) >= 2
    assert ids == [1, 3]


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"], indirect=True)
def test_only_an_error_from_opening_a_connection_counts_as_one(
    unreachable: tuple[DatabaseSettings, int], db_settings: DatabaseSettings
) -> None:
    settings, _ = unreachable
    errors = []
    for where in (settings, db_settings):  # no server there; a server, a bad statement
        database = Database(where)
        try:
            with database.unit_of_work() as session:
                session.execute(text("SELECT * FROM studyhall_no_such_table"))
        except DBAPIError as exc:
            errors.append(exc)
        finally:
            database.dispose()
    refused, bad_statement = errors
    assert failed_to_connect(refused) and is_retryable(refused)
    assert failed_to_connect(pickle.loads(pickle.dumps(refused)))  # across processes too
    assert not failed_to_connect(bad_statement) and not is_retryable(bad_statement)


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"], indirect=True)
def test_an_async_unit_that_cannot_connect_runs_again_too(
    unreachable: tuple[DatabaseSettings, int], db_settings: DatabaseSettings, calls: list[float]
) -> None:
    settings, port = unreachable
    target = (db_settings.url.host or "127.0.0.1", db_settings.url.port or 0)
    DatabaseManager.initialize(settings)

    @with_db_session(retries=RETRIES)
    async def write() -> None:
        calls.append(time.monotonic())
        await add_note_async(get_current_async_session(), 5, "async")

    proxies: list[CuttingProxy] = []
    timer = threading.Timer(0.3, lambda: proxies.append(CuttingProxy(target, port=port)))
    timer.start()
    try:
        run_async(write)
    finally:
        timer.join()
        for proxy in proxies:
            proxy.close()
    assert len(calls) >= 2, "the first run should have found nothing listening"
    assert committed_ids(db_settings) == [5]
