"""Propagation modes, verified from an independent connection (Django-style matrix)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from studyhall.database import DatabaseManager, get_current_session, with_db_session
from studyhall.errors import (
    NoActiveSessionError,
    ReadOnlyTransactionError,
    TransactionRolledBackError,
)
from tests.database.notes import add_note, committed_ids, notes

OUTER, INNER = 1, 2

# propagation -> {(outer_fails, inner_fails): (committed ids, error the outer call raises)}
MATRIX = {
    "required": {
        (False, False): ([OUTER, INNER], None),
        (False, True): ([], TransactionRolledBackError),
        (True, False): ([], RuntimeError),
        (True, True): ([], RuntimeError),
    },
    "requires_new": {
        (False, False): ([OUTER, INNER], None),
        (False, True): ([OUTER], None),
        (True, False): ([INNER], RuntimeError),
        (True, True): ([], RuntimeError),
    },
    "nested": {
        (False, False): ([OUTER, INNER], None),
        (False, True): ([OUTER], None),
        (True, False): ([], RuntimeError),
        (True, True): ([], RuntimeError),
    },
}
MATRIX["mandatory"] = MATRIX["required"]
CASES = [
    pytest.param(
        mode,
        outer_fails,
        inner_fails,
        id=f"{mode}-outer{'X' if outer_fails else 'ok'}-inner{'X' if inner_fails else 'ok'}",
    )
    for mode, table in MATRIX.items()
    for outer_fails, inner_fails in table
]


@pytest.mark.parametrize(("mode", "outer_fails", "inner_fails"), CASES)
def test_nesting_matrix(notes_db, db_settings, mode, outer_fails, inner_fails):
    expected_ids, expected_error = MATRIX[mode][(outer_fails, inner_fails)]

    @with_db_session(propagation=mode)
    def inner():
        add_note(get_current_session(), INNER)
        get_current_session().flush()
        if inner_fails:
            raise ValueError("inner fails")

    @with_db_session
    def outer():
        outer_session = get_current_session()
        try:
            inner()  # first: SQLite lets one connection write at a time
        except ValueError:
            pass
        assert get_current_session() is outer_session
        add_note(outer_session, OUTER)
        outer_session.flush()
        if outer_fails:
            raise RuntimeError("outer fails")

    if expected_error is None:
        outer()
    else:
        with pytest.raises(expected_error):
            outer()
    assert committed_ids(db_settings) == sorted(expected_ids)


def test_get_session_takes_the_same_propagation(notes_db, db_settings):
    with DatabaseManager.get_session() as outer:
        add_note(outer, OUTER)
        with pytest.raises(ValueError), DatabaseManager.get_session("nested") as inner:
            assert inner is outer
            add_note(inner, INNER)
            raise ValueError
        with DatabaseManager.get_session("required") as joined:
            assert joined is outer
    assert committed_ids(db_settings) == [OUTER]


def test_a_failed_flush_in_a_nested_unit_leaves_the_outer_unit_usable(notes_db, db_settings):
    from tests.database.notes import Note

    @with_db_session(propagation="nested")
    def duplicate():
        get_current_session().add(Note(id=OUTER, body="again"))
        get_current_session().flush()

    with DatabaseManager.get_session() as session:
        session.add(Note(id=OUTER, body="first"))
        session.flush()
        with pytest.raises(IntegrityError), DatabaseManager.get_session("nested"):
            session.add(Note(id=OUTER, body="again"))
            session.flush()
        with pytest.raises(IntegrityError):
            duplicate()
        with pytest.raises(TransactionRolledBackError), DatabaseManager.get_session("nested"):
            with pytest.raises(IntegrityError):  # caught inside the nested unit
                session.add(Note(id=OUTER, body="again"))
                session.flush()
        session.add(Note(id=INNER, body="second"))
    assert committed_ids(db_settings) == [OUTER, INNER]


def test_a_failed_flush_at_the_end_of_a_nested_unit_rolls_back_to_its_savepoint(
    notes_db, db_settings
):
    from tests.database.notes import Note

    with DatabaseManager.get_session() as session:
        session.add(Note(id=OUTER, body="first"))
        session.flush()
        with pytest.raises(IntegrityError), DatabaseManager.get_session("nested"):
            session.add(Note(id=OUTER, body="again"))  # flushed when the savepoint ends
        session.add(Note(id=INNER, body="second"))
    assert committed_ids(db_settings) == [OUTER, INNER]


@pytest.mark.parametrize("inner_raises", [True, False], ids=["inner-raises", "inner-returns"])
def test_a_nested_unit_whose_savepoint_is_gone_fails_the_whole_unit(
    notes_db, db_settings, inner_raises
):
    # What a MySQL deadlock or a lost connection does inside a savepoint: the server
    # rolls back the whole transaction, so the outer unit's rows are gone too.
    with pytest.raises(TransactionRolledBackError), DatabaseManager.get_session() as session:
        add_note(session, OUTER)
        with pytest.raises(Exception) as raised, DatabaseManager.get_session("nested"):
            add_note(session, INNER)
            session.connection().exec_driver_sql("ROLLBACK")
            if inner_raises:
                raise ValueError("deadlock")
        if inner_raises:  # the inner error, not the failed ROLLBACK TO SAVEPOINT
            assert raised.type is ValueError
        add_note(session, 3)
    assert committed_ids(db_settings) == []


def test_mandatory_without_a_unit_of_work_raises(notes_db):
    @with_db_session(propagation="mandatory")
    def needs_one():
        return 1

    with pytest.raises(NoActiveSessionError, match="propagation='mandatory'"):
        needs_one()


def test_unknown_propagation_is_refused():
    from studyhall.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="Unknown propagation 'sometimes'"):
        with_db_session(propagation="sometimes")  # type: ignore[call-overload]


def test_read_only_refuses_writes_and_allows_reads(notes_db, db_settings):
    with DatabaseManager.get_session() as session:
        add_note(session, 1)

    @with_db_session(read_only=True)
    def read():
        return get_current_session().scalars(select(notes.c.id)).all()

    @with_db_session(read_only=True)
    def write():
        from tests.database.notes import Note

        get_current_session().add(Note(id=5, body="no"))
        get_current_session().flush()

    assert read() == [1]
    with pytest.raises(ReadOnlyTransactionError, match="read-only"):
        write()
    assert committed_ids(db_settings) == [1]


@pytest.mark.parametrize("flush", [True, False], ids=["flushed", "left-pending"])
def test_a_read_only_call_joining_a_writable_unit_cannot_write(notes_db, db_settings, flush):
    from tests.database.notes import Note

    @with_db_session(read_only=True)
    def read():
        return get_current_session().scalars(select(notes.c.id)).all()

    @with_db_session(read_only=True)
    def sneaky_write():
        get_current_session().add(Note(id=5, body="no"))
        if flush:
            get_current_session().flush()

    with DatabaseManager.get_session() as session:
        add_note(session, 1)
        assert read() == [1]
        add_note(session, 2)  # the outer unit is writable again after the read-only call
    assert committed_ids(db_settings) == [1, 2]

    with pytest.raises(ReadOnlyTransactionError), DatabaseManager.get_session() as session:
        add_note(session, 3)
        sneaky_write()
    assert committed_ids(db_settings) == [1, 2]


def test_read_only_refuses_insert_update_and_delete_statements(notes_db, db_settings):
    from tests.database.notes import Note

    with DatabaseManager.get_session() as session:
        add_note(session, 1)
    statements = [
        notes.insert().values(id=2, body="no"),
        update(Note).where(Note.id == 1).values(body="changed"),
        delete(notes),
    ]
    for statement in statements:
        with pytest.raises(ReadOnlyTransactionError, match="read-only"):
            with DatabaseManager.get_session(read_only=True) as session:
                session.execute(statement)
    with DatabaseManager.get_session(read_only=True) as session:
        assert session.execute(select(notes.c.body)).scalars().all() == ["x"]
    assert committed_ids(db_settings) == [1]


# backend -> (query, a level that is not the default, how the server shows it)
ISOLATION_QUERY = {
    "mariadb": ("SELECT @@tx_isolation", "READ COMMITTED", "READ-COMMITTED"),
    "postgresql": ("SHOW transaction_isolation", "SERIALIZABLE", "serializable"),
}


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"], indirect=True)
def test_isolation_level_per_unit_of_work(notes_db, backend):
    query, level_name, expected = ISOLATION_QUERY[backend]

    @with_db_session(isolation_level=level_name)
    def level():
        return get_current_session().connection().exec_driver_sql(query).scalar()

    assert level() == expected
    with DatabaseManager.get_session() as session:  # the pooled connection is reset
        assert session.connection().exec_driver_sql(query).scalar() != expected
