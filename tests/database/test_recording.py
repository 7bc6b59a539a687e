"""Statement recording (studyhall.db.recording) and the plugin's `db_statements`, per backend."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, event, insert, text

from studyhall.db.engine import Database
from studyhall.db.recording import assert_num_statements, record_statements
from studyhall.testing import StatementCounter, rolled_back

SECRET = "s3cret-value-never-listed"


def select_one(database: Database) -> None:
    with database.unit_of_work() as session:
        session.execute(text("SELECT :value"), {"value": SECRET})


def test_records_each_statement_without_its_values(database: Database) -> None:
    with record_statements(database) as seen:
        select_one(database)
        select_one(database)
    assert seen.count == 2
    assert all(SECRET not in statement for statement in seen.statements)
    assert all("SELECT" in statement for statement in seen.statements)


def test_an_executemany_is_one_statement(database: Database) -> None:
    table = Table("recorded_rows", MetaData(), Column("id", Integer, primary_key=True))
    table.create(database.engine)
    with record_statements(database.engine) as seen, database.engine.begin() as conn:
        conn.execute(insert(table), [{"id": n} for n in range(1, 6)])
    assert seen.count == 1, seen.listing()


def test_the_listener_is_gone_and_the_engine_back_on_the_fast_path(database: Database) -> None:
    engine = database.engine
    assert not engine._has_events
    with record_statements(database) as seen:
        assert event.contains(engine, "before_cursor_execute", seen._record)
        select_one(database)
    assert not event.contains(engine, "before_cursor_execute", seen._record)
    assert not engine._has_events
    select_one(database)
    assert seen.count == 1


def test_another_listener_keeps_the_event_path(database: Database) -> None:
    def other(*args: object) -> None:
        pass

    event.listen(database.engine, "before_cursor_execute", other)
    try:
        with record_statements(database):
            select_one(database)
        assert database.engine._has_events
    finally:
        event.remove(database.engine, "before_cursor_execute", other)


def test_without_a_target_the_default_database_is_recorded(database: Database) -> None:
    with assert_num_statements(1):
        select_one(database)


def test_a_wrong_count_fails_listing_the_statements(database: Database) -> None:
    with pytest.raises(AssertionError) as failure, assert_num_statements(1, database):
        select_one(database)
        select_one(database)
    message = str(failure.value)
    assert message.startswith("Expected 1 statement(s), 2 were sent:")
    assert "1. SELECT" in message and "2. SELECT" in message
    assert SECRET not in message


def test_a_block_that_raises_is_not_checked(database: Database) -> None:
    with pytest.raises(KeyError), assert_num_statements(5, database):
        raise KeyError("the block's own error")


def test_other_threads_are_left_out_unless_asked(database: Database) -> None:
    def in_a_thread() -> None:
        worker = threading.Thread(target=select_one, args=(database,))
        worker.start()
        worker.join()

    with record_statements(database) as mine:
        in_a_thread()
        select_one(database)
    with record_statements(database, all_threads=True) as every:
        in_a_thread()
        select_one(database)
    assert (mine.count, every.count) == (1, 2)


def test_savepoints_count_only_when_asked_and_begin_commit_never(database: Database) -> None:
    def nested_units() -> None:
        with database.unit_of_work() as session:
            session.execute(text("SELECT 1"))
            with database.unit_of_work("nested") as inner:
                inner.execute(text("SELECT 2"))

    with record_statements(database) as plain:
        nested_units()
    with record_statements(database, transaction_control=True) as control:
        nested_units()
    assert plain.count == 2, plain.listing()
    words = [statement.split()[0].upper() for statement in control.statements]
    assert words == ["SELECT", "SAVEPOINT", "SELECT", "RELEASE"], control.listing()


def test_a_count_is_the_same_inside_the_rolled_back_transaction(database: Database) -> None:
    with record_statements(database) as outside:
        select_one(database)
    with rolled_back(database) as bound, record_statements(bound) as inside:
        select_one(bound)
    assert inside.count == outside.count == 1


def test_the_plugin_fixture_counts_on_the_default_database(
    database: Database, db_statements: StatementCounter
) -> None:
    with db_statements(1):
        select_one(database)
    with db_statements.record() as seen:
        select_one(database)
        select_one(database)
    assert seen.count == 2
    with pytest.raises(AssertionError, match="Expected 3 statement"), db_statements(3):
        select_one(database)
