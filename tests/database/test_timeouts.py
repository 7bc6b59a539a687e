"""Bounded waits: DB_READ_TIMEOUT / DB_WRITE_TIMEOUT / DB_STATEMENT_TIMEOUT, and a hung server.

A server frozen with SIGSTOP still accepts TCP connections (the kernel does) but never
answers: without a read timeout a running query, and the pre-ping of the next unit of
work, would wait until it resumes.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from studyhall.config import DatabaseSettings, load_settings
from studyhall.db.backends import build_engine, engine_options
from studyhall.db.engine import Database
from studyhall.errors import ConfigurationError, StudyhallError
from tests import hung_server as hung
from tests.private_mariadb import PrivateMariaDB, private_mariadb

PRIVATE_PORT = 3331

SERVER_ENV = {"DB_USER": "u", "DB_PASSWORD": "", "DB_HOST": "h", "DB_NAME": "n"}


def test_timeouts_default_to_30_seconds_and_statement_timeout_off() -> None:
    settings = load_settings(SERVER_ENV)
    assert (settings.read_timeout, settings.write_timeout) == (30, 30)
    assert settings.statement_timeout == 0
    assert "read_timeout=30" in repr(settings)


def test_timeouts_are_read_from_the_environment() -> None:
    env = {
        **SERVER_ENV,
        "DB_READ_TIMEOUT": "7.5",
        "DB_WRITE_TIMEOUT": "9",
        "DB_STATEMENT_TIMEOUT": "0.25",
    }
    settings = load_settings(env)
    assert (settings.read_timeout, settings.write_timeout) == (7.5, 9)
    assert settings.statement_timeout == 0.25


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DB_READ_TIMEOUT", "0", "DB_READ_TIMEOUT='0' is out of range"),
        ("DB_READ_TIMEOUT", "soon", "DB_READ_TIMEOUT='soon' is not a number"),
        ("DB_WRITE_TIMEOUT", "-1", "DB_WRITE_TIMEOUT='-1' is out of range"),
        ("DB_STATEMENT_TIMEOUT", "off", "DB_STATEMENT_TIMEOUT='off' is not a number"),
        ("DB_STATEMENT_TIMEOUT", "-5", "DB_STATEMENT_TIMEOUT='-5' is out of range"),
    ],
)
def test_bad_timeouts_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings({**SERVER_ENV, name: value})


def _settings(backend: str, **timeouts: Any) -> DatabaseSettings:
    url = {"mariadb": "mysql+pymysql://u@h/n", "postgresql": "postgresql+psycopg://u@h/n"}
    return DatabaseSettings(url=make_url(url[backend]), source="DATABASE_URL", **timeouts)


def test_mysql_connect_arguments_keep_the_timeouts() -> None:
    args = engine_options(_settings("mariadb", read_timeout=12, write_timeout=13))["connect_args"]
    assert (args["read_timeout"], args["write_timeout"]) == (12, 13)


def test_postgresql_connect_arguments_detect_a_dead_peer() -> None:
    settings = _settings("postgresql", read_timeout=12, write_timeout=13, statement_timeout=40)
    args = engine_options(settings)["connect_args"]
    assert args["keepalives"] == 1
    assert args["tcp_user_timeout"] == 13_000
    # A dead peer is noticed within about the read timeout while waiting for an answer.
    idle, interval, count = (
        args["keepalives_idle"],
        args["keepalives_interval"],
        args["keepalives_count"],
    )
    assert idle + interval * count <= 12
    assert args["options"] == "-c statement_timeout=40000"
    assert "options" not in engine_options(_settings("postgresql"))["connect_args"]


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
def test_mysql_connection_keeps_its_read_timeout_after_the_handshake(
    db_settings: DatabaseSettings,
) -> None:
    settings = dataclasses.replace(db_settings, read_timeout=11, write_timeout=12)
    engine = build_engine(settings)
    try:
        raw = engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            assert (driver._read_timeout, driver._write_timeout) == (11, 12)
        finally:
            raw.close()
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_connection_has_keepalives_user_timeout_and_statement_timeout(
    db_settings: DatabaseSettings,
) -> None:
    settings = dataclasses.replace(
        db_settings, read_timeout=12, write_timeout=13, statement_timeout=40
    )
    engine = build_engine(settings)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "40s"
            driver: Any = conn.connection.driver_connection
            sock = socket.socket(fileno=driver.pgconn.socket)
            try:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 13_000
            finally:
                sock.detach()  # the socket is libpq's: do not close it
    finally:
        engine.dispose()


# -- a hung server (tests/hung_server.py) ------------------------------------------------


@pytest.fixture(scope="module")
def hung_server() -> Iterator[PrivateMariaDB]:
    with private_mariadb(PRIVATE_PORT) as server:
        yield server


@pytest.fixture
def short_timeouts(hung_server: PrivateMariaDB) -> Iterator[Database]:
    """A pool of one connection to the private server, every wait TIMEOUT seconds."""
    with hung.short_timeouts(hung_server) as database:
        yield database


def test_a_running_query_fails_when_the_server_hangs(
    hung_server: PrivateMariaDB, short_timeouts: Database
) -> None:
    hung.check_a_running_query_fails_when_hung(hung_server, short_timeouts)


def test_a_new_unit_fails_when_the_server_hangs(
    hung_server: PrivateMariaDB, short_timeouts: Database
) -> None:
    hung.select(short_timeouts)  # the pool holds one idle connection, pinged before reuse
    hung_server.pause()
    try:
        _, error = hung.within(hung.BOUND, lambda: hung.select(short_timeouts))
    finally:
        hung_server.resume()
    assert isinstance(error, (DBAPIError, StudyhallError)), error
    hung.select(short_timeouts)
