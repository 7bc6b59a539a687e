"""Bulk INSERTs of literal values on MariaDB: the same rows Core's executemany stores."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    event,
    select,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from studyhall.db.backends.mysql_insert import InsertRenderer, no_backslash_escapes, run_inserts

pytestmark = pytest.mark.parametrize("backend", ["mariadb"], indirect=True)

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100)),
    Column("body", Text),
    Column("n", BigInteger),
    Column("at", DateTime),
    Column("day", Date),
    Column("price", Numeric(10, 2)),
    Column("ratio", Float),
    Column("blob", LargeBinary),
)
COLUMNS = [column.name for column in things.c]

NASTY = [
    "it's",
    'say "hi"',
    "back\\slash",
    "new\nline\r\n",
    "nul\0byte",
    "ctrl-z\x1a",
    "100% {0} {} %s %(x)s",
    "🎓🦄 ünï",
    "'); DROP TABLE things; --",
    "\\'",
    "",
]


def rows() -> list[tuple[Any, ...]]:
    made: list[tuple[Any, ...]] = [
        (
            i + 1,
            text,
            text * 3,
            i * 7,
            datetime(2024, 1, 2, 3, 4, i),
            date(2024, 2, 1 + i),
            Decimal("12.34"),
            0.5 + i,
            text.encode(),
        )
        for i, text in enumerate(NASTY)
    ]
    made.append(
        (100, None, None, None, None, None, None, None, None)  # every nullable column NULL
    )
    made.append(
        (
            101,
            "x",
            "y",
            -(2**40),
            datetime(2024, 5, 6, 7, 8, 9, 123456),
            date(1999, 12, 31),
            Decimal("-0.01"),
            1e-3,
            b"\x00\xff'\\",
        )
    )
    return made


def columnwise(made: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*made, strict=True)]


@pytest.fixture
def table(database):
    metadata.create_all(database.engine)
    return things


def stored(database) -> list[tuple[Any, ...]]:
    with database.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(things).order_by(things.c.id))]


def core_stores(database, made) -> list[tuple[Any, ...]]:
    with database.engine.begin() as conn:
        conn.execute(things.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in made])
    found = stored(database)
    with database.engine.begin() as conn:
        conn.execute(things.delete())
    return found


def load(database, made, *, sql_mode: str | None = None, **options) -> list[str]:
    with database.engine.begin() as conn:
        if sql_mode:
            conn.exec_driver_sql(f"SET SESSION sql_mode = CONCAT(@@sql_mode, ',{sql_mode}')")
        statements = InsertRenderer.of(conn, **options).render(things, COLUMNS, columnwise(made))
        run_inserts(conn, statements)
        if sql_mode:
            conn.exec_driver_sql("SET SESSION sql_mode = DEFAULT")
    return statements


def test_stores_exactly_what_core_stores(table, database):
    made = rows()
    expected = core_stores(database, made)
    statements = load(database, made)
    assert len(statements) == 1
    assert stored(database) == expected
    assert expected[0][1] == "it's" and expected[-2][1:] == (None,) * 8


def test_under_no_backslash_escapes_quotes_are_doubled(table, database):
    made = rows()
    expected = core_stores(database, made)
    with database.engine.connect() as conn:
        assert not no_backslash_escapes(conn)
        conn.exec_driver_sql("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        assert no_backslash_escapes(conn)
        conn.exec_driver_sql("SET SESSION sql_mode = DEFAULT")
    load(database, made, sql_mode="NO_BACKSLASH_ESCAPES")
    assert stored(database) == expected


def test_an_aware_datetime_is_left_to_pymysql(table, database):
    aware = [(1, "a", "b", 1, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None, None, None, None)]
    naive = [(1, "a", "b", 1, datetime(2024, 1, 2, 3, 4, 5), None, None, None, None)]
    expected = core_stores(database, naive)
    load(database, aware)  # PyMySQL's own literal: the wall-clock time, its offset dropped
    assert stored(database) == expected


def test_long_batches_are_cut_into_statements_that_fit(table, database):
    made = [(i, f"name {i}", "body " * 20, i, None, None, None, None, None) for i in range(500)]
    statements = load(database, made, max_chars=2_000)
    assert len(statements) > 10
    assert all(len(statement) <= 2_000 for statement in statements)
    assert [row[0] for row in stored(database)] == list(range(500))


def test_one_row_longer_than_the_limit_goes_alone(table, database):
    made = [
        (1, "a", "x" * 5_000, 1, None, None, None, None, None),
        (2, "b", "y", 2, None, None, None, None, None),
    ]
    statements = load(database, made, max_chars=1_000)
    assert len(statements) == 2
    assert [row[2] for row in stored(database)] == ["x" * 5_000, "y"]


def test_statement_events_never_see_the_values(table, database):
    seen: list[str] = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    load(database, rows())
    assert not any("DROP TABLE things" in statement for statement in seen)


def test_a_driver_error_is_cores_and_names_no_value(table, database):
    made = [(1, "secret-ish value", "b", 1, None, None, None, None, None)]
    load(database, made)
    with pytest.raises(IntegrityError) as caught:
        load(database, made)
    assert "INSERT INTO things" in str(caught.value)
    assert "secret-ish value" not in str(caught.value)


def test_a_lost_connection_is_invalidated(table, database):
    with database.engine.connect() as conn:
        conn.begin()
        statements = InsertRenderer.of(conn).render(things, COLUMNS, columnwise(rows()))
        conn.exec_driver_sql("SELECT 1")
        killer_id = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
        with database.engine.connect() as other:
            other.exec_driver_sql(f"KILL {killer_id}")
        with pytest.raises(OperationalError) as caught:
            run_inserts(conn, statements)
        assert caught.value.connection_invalidated
