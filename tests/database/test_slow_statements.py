"""The slow-statement log: DB_SLOW_MS, one WARNING per slow statement, no parameter values."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

from studyhall.config import DatabaseSettings, load_settings
from studyhall.database import DatabaseManager, get_current_session, with_db_session
from studyhall.db import slow_statements
from studyhall.db.backends import build_engine
from studyhall.db.engine import Database
from studyhall.errors import ConfigurationError

SERVER_ENV = {"DB_USER": "u", "DB_PASSWORD": "", "DB_HOST": "h", "DB_NAME": "n"}
# A 300 ms sleep against a 100 ms threshold: far apart on any machine.
THRESHOLD_MS = 100
SLEEP = {
    "sqlite": "SELECT studyhall_sleep(0.3)",
    "mariadb": "SELECT SLEEP(0.3)",
    "postgresql": "SELECT pg_sleep(0.3)",
}
SECRET = "hunter2-bound-password"
LINE = re.compile(r"Slow statement \((\d+) ms\) in (.+?): (.*)", re.S)


def _slow_sql(session: Session) -> str:
    """The backend's 300 ms statement (on SQLite, a sleeping function of this connection)."""
    backend = session.get_bind().dialect.name
    if backend == "sqlite":
        driver = session.connection().connection.driver_connection
        driver.create_function("studyhall_sleep", 1, time.sleep)  # type: ignore[union-attr]
        return SLEEP["sqlite"]
    return SLEEP["mariadb" if backend in ("mysql", "mariadb") else "postgresql"]


@pytest.fixture
def slow_db(db_settings: DatabaseSettings) -> Iterator[Database]:
    """The manager initialized with a 100 ms slow-statement threshold."""
    db = DatabaseManager.initialize(dataclasses.replace(db_settings, slow_ms=THRESHOLD_MS))
    yield db
    DatabaseManager.cleanup()


@pytest.fixture
def caplog_warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="studyhall")
    return caplog


def slow_lines(caplog: pytest.LogCaptureFixture) -> list[re.Match[str]]:
    found = [LINE.fullmatch(r.getMessage()) for r in caplog.records]
    return [m for m in found if m is not None]


@with_db_session
def run_slow_statement() -> None:
    session = get_current_session()
    session.execute(text(_slow_sql(session)))


def test_a_slow_statement_is_logged_once_with_its_duration_and_owner(slow_db, caplog_warnings):
    run_slow_statement()

    (line,) = slow_lines(caplog_warnings)
    assert int(line[1]) >= 300
    assert line[2] == f"{__name__}.run_slow_statement"
    assert line[3].startswith("SELECT ") and "sleep(0.3)" in line[3].lower()
    (record,) = [r for r in caplog_warnings.records if LINE.fullmatch(r.getMessage())]
    assert record.levelno == logging.WARNING
    assert record.name.startswith("studyhall.")


def test_the_owner_of_get_session_is_the_code_that_opened_it(slow_db, caplog_warnings):
    with DatabaseManager.get_session() as session:
        session.execute(text(_slow_sql(session)))

    (line,) = slow_lines(caplog_warnings)
    assert line[2] == f"{__name__}.test_the_owner_of_get_session_is_the_code_that_opened_it"


@with_db_session(propagation="requires_new")
def inner_own_unit() -> None:
    run_slow_statement()  # joins the unit inner_own_unit owns


@with_db_session
def outer_unit() -> None:
    inner_own_unit()
    get_current_session().execute(text("SELECT 1"))


def test_the_owner_is_the_function_that_owns_the_unit_not_a_joined_one(slow_db, caplog_warnings):
    outer_unit()

    (line,) = slow_lines(caplog_warnings)
    assert line[2] == f"{__name__}.inner_own_unit"


@with_db_session(retries=2)
def run_with_retries() -> None:
    session = get_current_session()
    session.execute(text(_slow_sql(session)))


def test_the_owner_of_a_unit_with_retries_is_its_function(slow_db, caplog_warnings):
    run_with_retries()

    (line,) = slow_lines(caplog_warnings)
    assert line[2] == f"{__name__}.run_with_retries"


def test_a_fast_statement_is_not_logged(slow_db, caplog_warnings):
    with DatabaseManager.get_session() as session:
        session.execute(text("SELECT 1"))

    assert slow_lines(caplog_warnings) == []


def test_parameter_values_never_appear(slow_db, caplog_warnings):
    with DatabaseManager.get_session() as session:
        sql = _slow_sql(session) + ", CAST(:secret AS CHAR(40))"
        if session.get_bind().dialect.name == "postgresql":
            sql = sql.replace("CHAR(40)", "TEXT")
        session.execute(text(sql), {"secret": SECRET})

    (line,) = slow_lines(caplog_warnings)
    assert SECRET not in caplog_warnings.text
    assert "CAST(" in line[3]  # the placeholder's statement, without its value


def test_a_long_statement_is_cut_short(slow_db, caplog_warnings):
    with DatabaseManager.get_session() as session:
        columns = ", ".join(f"{n} AS c{n}" for n in range(400))
        session.execute(text(f"{_slow_sql(session)}, {columns}"))

    (line,) = slow_lines(caplog_warnings)
    assert len(line[3]) <= slow_statements.MAX_STATEMENT_CHARS + 10
    assert line[3].endswith("...")


def test_zero_turns_the_log_off(db_settings, caplog_warnings):
    db = DatabaseManager.initialize(dataclasses.replace(db_settings, slow_ms=0))
    assert not slow_statements.is_installed(db.engine)
    with DatabaseManager.get_session() as session:
        session.execute(text(_slow_sql(session)))

    assert slow_lines(caplog_warnings) == []


def test_outside_a_unit_of_work_the_owner_says_so(slow_db, caplog_warnings):
    with slow_db.engine.connect() as conn:
        session = Session(conn)
        session.execute(text(_slow_sql(session)))
        session.close()

    (line,) = slow_lines(caplog_warnings)
    assert line[2] == slow_statements.NO_OWNER


def test_a_secret_of_the_settings_is_masked_in_the_statement():
    described = slow_statements.describe("SELECT  'pw-123'\n  FROM t", secrets=["pw-123"])
    assert described == "SELECT '***' FROM t"


# --- users' own do_execute listeners -----------------------------------------------------
#
# SQLAlchemy calls a dialect's do_execute / do_executemany / do_execute_no_params
# listeners in order and stops at the first that returns True (it ran the statement
# itself); if none does, it calls the dialect's method. The slow log must leave that
# contract as it is: every user listener runs, wherever it was registered, and one that
# takes over runs the statement exactly once.

PROBE = "slow_log_probe"
# event -> (how to run a statement that reaches that event, the rows it inserts)
ONE_ROW = text(f"INSERT INTO {PROBE} (n) VALUES (:n)")
STATEMENTS = {
    "do_execute": (lambda conn: conn.execute(ONE_ROW, {"n": 1}), [1]),
    "do_executemany": (lambda conn: conn.execute(ONE_ROW, [{"n": 2}, {"n": 3}]), [2, 3]),
    "do_execute_no_params": (
        lambda conn: conn.execution_options(no_parameters=True).execute(
            text(f"INSERT INTO {PROBE} (n) VALUES (4)")
        ),
        [4],
    ),
}
# Where the user's listener goes: on the engine once it is built (behind any listener
# studyhall added), or on every engine (the Engine class), which SQLAlchemy calls before
# any engine's own listeners. Dialect events ignore `insert=True`.
POSITIONS = ("after", "first")


@contextlib.contextmanager
def listening(engine: Engine, name: str, listener: Callable[..., Any], position: str):
    """`listener` on `engine`'s event `name` for the block, at `position`."""
    target: Any = engine if position == "after" else Engine
    event.listen(target, name, listener)
    try:
        yield
    finally:
        event.remove(target, name, listener)


def _listener(name: str, calls: list[tuple[str, str]], take_over: bool) -> Callable[..., Any]:
    """A user's listener of `name` that records each call on the probe table and, when
    `take_over`, runs the statement on the cursor itself and returns True."""

    def listener(cursor, statement, *rest):  # rest: [parameters,] context
        if PROBE not in statement:
            return None
        calls.append((name, statement))
        if not take_over:
            return None
        if name == "do_executemany":
            cursor.executemany(statement, rest[0])
        elif name == "do_execute":
            cursor.execute(statement, rest[0])
        else:
            cursor.execute(statement)
        return True

    return listener


def _run_with_listener(
    engine: Engine, name: str, position: str, take_over: bool
) -> tuple[list[tuple[str, str]], list[int]]:
    """The calls a user's listener saw and the rows the probe table ends with."""
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {PROBE} (n INTEGER)"))
    calls: list[tuple[str, str]] = []
    run, _ = STATEMENTS[name]
    with listening(engine, name, _listener(name, calls, take_over), position):
        with engine.begin() as conn:
            run(conn)
    with engine.begin() as conn:
        rows = sorted(conn.execute(text(f"SELECT n FROM {PROBE}")).scalars())
        conn.execute(text(f"DROP TABLE {PROBE}"))
    return calls, rows


@pytest.mark.parametrize("take_over", [False, True], ids=["observes", "takes-over"])
@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_a_users_listener_runs_as_it_does_without_studyhall(
    db_settings, name, position, take_over
):
    assert db_settings.slow_ms == 200  # the default: the slow log is on
    stock = create_engine(db_settings.url)
    ours = build_engine(db_settings)
    try:
        assert slow_statements.is_installed(ours)
        expected = _run_with_listener(stock, name, position, take_over)
        got = _run_with_listener(ours, name, position, take_over)
    finally:
        stock.dispose()
        ours.dispose()

    calls, rows = got
    assert len(calls) == 1 and calls[0][0] == name  # called once, by its own event
    assert rows == STATEMENTS[name][1]  # run exactly once, whoever ran it
    assert got == expected


@with_db_session
def run_slow_statement_taken_over() -> None:
    session = get_current_session()
    session.execute(text(_slow_sql(session)))


@pytest.mark.parametrize("position", POSITIONS)
def test_a_listener_that_runs_the_dialects_execute_itself_is_still_timed(
    db_settings, caplog_warnings, position
):
    # A common way to take over: do something around the dialect's own execute (as the
    # reconnect recipe of SQLAlchemy's FAQ does, `context` given by keyword).
    DatabaseManager.initialize(db_settings)  # default settings: 200 ms, and sleeps 300
    engine = DatabaseManager.database().engine
    seen: list[str] = []

    def take_over(cursor, statement, parameters, context):
        seen.append(statement)
        context.dialect.do_execute(cursor, statement, parameters, context=context)
        return True

    with listening(engine, "do_execute", take_over, position):
        run_slow_statement_taken_over()

    assert len([s for s in seen if "sleep(0.3)" in s.lower()]) == 1
    (line,) = slow_lines(caplog_warnings)
    assert line[2] == f"{__name__}.run_slow_statement_taken_over"
    assert int(line[1]) >= 300


# --- configuration ---------------------------------------------------------------------


def test_the_threshold_defaults_to_200_ms():
    assert load_settings(SERVER_ENV).slow_ms == 200
    assert "slow_ms=200" in repr(load_settings(SERVER_ENV))
    assert DatabaseSettings(url=load_settings(SERVER_ENV).url).slow_ms == 200


def test_db_slow_ms_zero_installs_nothing(db_settings):
    url = db_settings.url.render_as_string(hide_password=False)
    settings = load_settings({"DATABASE_URL": url, "DB_SLOW_MS": "0"})
    assert settings.slow_ms == 0
    engine = build_engine(settings)
    try:
        assert not slow_statements.is_installed(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("450", 450), (" 1000 ", 1000)])
def test_the_threshold_is_read_from_db_slow_ms(raw, expected):
    assert load_settings({**SERVER_ENV, "DB_SLOW_MS": raw}).slow_ms == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("slow", "DB_SLOW_MS='slow' is not a whole number"),
        ("1.5", "DB_SLOW_MS='1.5' is not a whole number"),
        ("-1", "DB_SLOW_MS='-1' is out of range"),
    ],
)
def test_a_bad_threshold_is_a_configuration_error(raw, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_settings({**SERVER_ENV, "DB_SLOW_MS": raw})
