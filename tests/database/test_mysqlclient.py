"""mysqlclient (MySQLdb) as the optional MySQL/MariaDB driver: DB_DRIVER=mysqlclient or a
mysql+mysqldb:// URL, with the guarantees PyMySQL has (utf8mb4, strict mode, LOCAL INFILE
off, bounded waits, the conditional reset on return, fork safety, error translation).

A focused subset, not the whole suite again. Without mysqlclient installed (it builds from
source: libmariadb-dev and pkg-config) the server tests skip with the reason, unless
STUDYHALL_REQUIRE_SERVERS=1, which makes that a failure.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from studyhall.config import DatabaseSettings, load_settings
from studyhall.db.backends import build_engine, drop_database, engine_options, ensure_database
from studyhall.db.engine import Database
from studyhall.errors import (
    ConfigurationError,
    ConflictError,
    LoginRefusedError,
    StudyhallError,
)
from tests import hung_server as hung
from tests.conftest import REQUIRE_SERVERS, SERVER_URLS, require_backend
from tests.private_mariadb import PrivateMariaDB, private_mariadb

SERVER_ENV = {"DB_USER": "u", "DB_PASSWORD": "", "DB_HOST": "h", "DB_NAME": "n"}
INSTALLED = importlib.util.find_spec("MySQLdb") is not None


def test_pymysql_stays_the_default() -> None:
    assert load_settings(SERVER_ENV).url.drivername == "mysql+pymysql"
    assert load_settings({"DATABASE_URL": "mysql://u@h/n"}).url.drivername == "mysql+pymysql"


def _need_mysqlclient() -> None:
    if INSTALLED:
        return
    reason = (
        "mysqlclient is not installed: pip install 'studyhall[mysqlclient]' after "
        "apt-get install libmariadb-dev pkg-config (.ci/run does both)"
    )
    if REQUIRE_SERVERS:
        pytest.fail(f"{reason}; STUDYHALL_REQUIRE_SERVERS=1 makes this a failure")
    pytest.skip(reason)


@pytest.mark.parametrize(
    ("env", "drivername"),
    [
        ({**SERVER_ENV, "DB_DRIVER": "mysqlclient"}, "mysql+mysqldb"),
        ({**SERVER_ENV, "DB_DIALECT": "mariadb", "DB_DRIVER": "MySQLClient"}, "mariadb+mysqldb"),
        ({"DATABASE_URL": "mysql://u@h/n", "DB_DRIVER": "mysqlclient"}, "mysql+mysqldb"),
        ({"DATABASE_URL": "mariadb+mysqldb://u@h/n"}, "mariadb+mysqldb"),
        ({**SERVER_ENV, "DB_DRIVER": "pymysql"}, "mysql+pymysql"),
    ],
)
def test_mysqlclient_is_chosen_by_db_driver_or_the_url(
    env: dict[str, str], drivername: str
) -> None:
    if drivername.endswith("+mysqldb"):
        _need_mysqlclient()
    assert load_settings(env).url.drivername == drivername


def test_an_unknown_driver_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="DB_DRIVER='mysqldbx' is not supported"):
        load_settings({**SERVER_ENV, "DB_DRIVER": "mysqldbx"})


def test_a_url_naming_the_other_driver_is_refused() -> None:
    env = {"DATABASE_URL": "mysql+pymysql://u@h/n", "DB_DRIVER": "mysqlclient"}
    with pytest.raises(ConfigurationError, match="DB_DRIVER=mysqlclient.*mysql\\+pymysql"):
        load_settings(env)


def test_db_driver_alone_does_not_leave_the_embedded_database() -> None:
    assert load_settings({"DB_DRIVER": "mysqlclient"}).backend == "sqlite"


def test_a_missing_mysqlclient_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "MySQLdb", None)  # as if it were not installed
    for env in (
        {**SERVER_ENV, "DB_DRIVER": "mysqlclient"},
        {"DATABASE_URL": "mysql+mysqldb://u@h/n"},
    ):
        with pytest.raises(ConfigurationError) as info:
            load_settings(env)
        message = str(info.value)
        assert "pip install 'studyhall[mysqlclient]'" in message
        assert "libmariadb-dev" in message and "pkg-config" in message


def test_connect_arguments_are_whole_seconds_for_mysqlclient() -> None:
    _need_mysqlclient()
    settings = dataclasses.replace(
        load_settings({**SERVER_ENV, "DB_DRIVER": "mysqlclient"}),
        read_timeout=1.5,
        write_timeout=12,
    )
    args = engine_options(settings)["connect_args"]
    assert (args["read_timeout"], args["write_timeout"]) == (2, 12)
    assert all(isinstance(args[k], int) for k in ("connect_timeout", "read_timeout"))
    assert args["charset"] == "utf8mb4" and args["local_infile"] is False


def _mysqlclient_url() -> Any:
    return make_url(SERVER_URLS["mariadb"]).set(drivername="mysql+mysqldb")


@pytest.fixture
def mc_settings(tmp_path: Path) -> Iterator[DatabaseSettings]:
    """A throwaway MariaDB database reached through mysqlclient."""
    _need_mysqlclient()
    require_backend("mariadb")
    name = f"studyhall_test_{uuid.uuid4().hex[:12]}"
    settings = DatabaseSettings(url=_mysqlclient_url().set(database=name), source="DATABASE_URL")
    ensure_database(settings)
    yield settings
    drop_database(settings)


@pytest.fixture
def mc_database(mc_settings: DatabaseSettings) -> Iterator[Database]:
    database = Database(dataclasses.replace(mc_settings, pool_size=1, max_overflow=0))
    yield database
    database.dispose()


def test_the_session_is_strict_utf8mb4_with_the_timeouts(mc_settings: DatabaseSettings) -> None:
    engine = build_engine(dataclasses.replace(mc_settings, read_timeout=11, write_timeout=12))
    try:
        with engine.connect() as conn:
            assert type(conn.connection.driver_connection).__module__.startswith("studyhall")
            mode = conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar()
            assert "STRICT_ALL_TABLES" in mode and "STRICT_TRANS_TABLES" in mode
            charset = conn.exec_driver_sql("SELECT @@character_set_connection").scalar()
            assert charset == "utf8mb4"
            assert (
                conn.exec_driver_sql("SELECT '\N{GRINNING FACE}'").scalar() == "\N{GRINNING FACE}"
            )
    finally:
        engine.dispose()


def test_load_data_local_infile_is_refused(mc_database: Database, tmp_path: Path) -> None:
    data = tmp_path / "rows.txt"
    data.write_text("1\n2\n")
    with mc_database.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INT)")
    with pytest.raises(DBAPIError), mc_database.engine.begin() as conn:
        conn.exec_driver_sql(f"LOAD DATA LOCAL INFILE '{data}' INTO TABLE t")
    with mc_database.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM t").scalar() == 0


def test_a_unit_that_committed_is_not_rolled_back_again(mc_database: Database) -> None:
    with mc_database.unit_of_work() as session:
        session.execute(text("SELECT 1"))
    raw = mc_database.engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        assert driver.may_hold_transaction is False  # the COMMIT cleared it
        driver.query("SELECT 1")
        driver.store_result()
        assert driver.may_hold_transaction is True  # a raw statement sets it again
    finally:
        raw.close()  # ... and check-in rolls it back
    raw = mc_database.engine.raw_connection()
    try:
        assert raw.driver_connection.may_hold_transaction is False  # type: ignore[union-attr]
    finally:
        raw.close()


def test_a_statement_longer_than_the_read_timeout_fails(mc_settings: DatabaseSettings) -> None:
    # Without the read timeout the SLEEP would simply return 0 after 4 seconds.
    database = Database(dataclasses.replace(mc_settings, read_timeout=1, pool_size=1))
    try:
        with pytest.raises((DBAPIError, StudyhallError)), database.unit_of_work() as session:
            session.execute(text("SELECT SLEEP(4)"))
        assert database.engine.pool.checkedout() == 0
        with database.unit_of_work() as session:  # the pool recovers
            assert session.execute(text("SELECT 1")).scalar() == 1
    finally:
        database.dispose()


def test_a_forked_child_gets_its_own_connection(mc_database: Database) -> None:
    with mc_database.engine.connect() as conn:
        parent_id = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            # Collect the pool the fork hook dropped now, as a later collection would: a
            # connection it held must not end the parent's session (mysql_close's QUIT).
            gc.collect()
            with mc_database.engine.connect() as conn:
                child_id = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
            os.write(write, str(child_id).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child_id = int(os.read(read, 100) or b"0")
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_id not in (0, parent_id)
    with mc_database.engine.connect() as conn:  # the parent's connection still works
        assert conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar() == parent_id


def test_a_wrong_password_is_a_refused_login(mc_settings: DatabaseSettings) -> None:
    wrong = dataclasses.replace(mc_settings, url=mc_settings.url.set(password="wrong-pw"))
    database = Database(wrong)
    try:
        with pytest.raises(LoginRefusedError) as info, database.unit_of_work() as session:
            session.execute(text("SELECT 1"))
    finally:
        database.dispose()
    error = info.value
    assert isinstance(error, OperationalError)
    assert type(error.orig).__module__.startswith("MySQLdb") and error.orig.args[0] == 1045
    assert "wrong-pw" not in str(error)


def test_a_child_closing_an_inherited_connection_leaves_the_parents_session(
    mc_database: Database,
) -> None:
    held = mc_database.engine.raw_connection()  # checked out across the fork
    try:
        driver: Any = held.driver_connection
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                driver.close()  # mysql_close() would send QUIT on the shared socket
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        cursor = held.cursor()
        cursor.execute("SELECT 1")
        assert cursor.fetchall() == ((1,),)
        cursor.close()
    finally:
        held.close()


def test_a_lock_wait_timeout_is_a_conflict(mc_database: Database) -> None:
    with mc_database.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE c (id INT PRIMARY KEY, n INT) ENGINE=InnoDB")
        conn.exec_driver_sql("INSERT INTO c VALUES (1, 0)")
    other = Database(mc_database.settings)
    try:
        with mc_database.engine.connect() as holder:
            holder.exec_driver_sql("UPDATE c SET n = 1 WHERE id = 1")  # holds the row lock
            with pytest.raises(ConflictError) as info, other.unit_of_work() as waiter:
                waiter.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
                waiter.execute(text("UPDATE c SET n = 2 WHERE id = 1"))
    finally:
        other.dispose()
    error: Any = info.value
    assert isinstance(error, OperationalError) and error.orig.args[0] == 1205


# -- a hung server: mysqlclient's waits are bounded too (tests/hung_server.py) ----------

PRIVATE_PORT = 3346  # no other test uses it


@pytest.fixture(scope="module")
def hung_server() -> Iterator[PrivateMariaDB]:
    _need_mysqlclient()
    with private_mariadb(PRIVATE_PORT) as server:
        yield server


@pytest.fixture
def short_timeouts(hung_server: PrivateMariaDB) -> Iterator[Database]:
    """A mysqlclient pool of one connection to the private server, every wait TIMEOUT s."""
    with hung.short_timeouts(hung_server, drivername="mysql+mysqldb") as database:
        yield database


def test_a_running_query_fails_when_the_server_hangs(
    hung_server: PrivateMariaDB, short_timeouts: Database
) -> None:
    hung.check_a_running_query_fails_when_hung(hung_server, short_timeouts)


def test_a_reused_and_a_new_connection_fail_when_the_server_hangs(
    hung_server: PrivateMariaDB, short_timeouts: Database
) -> None:
    hung.select(short_timeouts)  # one idle connection, pinged before reuse once it has idled
    time.sleep(short_timeouts.settings.ping_bypass_ms / 1000 + 0.1)
    hung_server.pause()
    try:
        _, reused = hung.within(hung.BOUND, lambda: hung.select(short_timeouts))
        # The pool is empty now: a new connection's handshake must be bounded as well.
        _, connecting = hung.within(hung.BOUND, lambda: hung.select(short_timeouts))
    finally:
        hung_server.resume()
    assert isinstance(reused, (DBAPIError, StudyhallError)), reused
    assert isinstance(connecting, (DBAPIError, StudyhallError)), connecting
    hung.select(short_timeouts)
