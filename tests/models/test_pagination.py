"""Pages of model rows (`studyhall.models.pagination`): limit, offset pages, keyset pages."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from studyhall.database import DatabaseManager, get_current_session
from studyhall.errors import ConfigurationError
from studyhall.models import (
    HomeHoursStudySession,
    InvalidCursorError,
    InvalidFilterError,
    SchoolClass,
    SessionStatus,
    Student,
    StudySession,
    Subject,
    pagination,
)
from tests.models.factories import World, make_world
from tests.models.statements import selects

T0 = datetime(2026, 1, 1, 12, 0, 0)
FINISHED = [SessionStatus.COMPLETED, SessionStatus.CANCELLED]


@pytest.fixture(autouse=True)
def cursor_key() -> Iterator[None]:
    pagination.set_cursor_key(b"k" * 32)
    yield
    pagination.set_cursor_key(None)


def add_sessions(world: World, minutes: list[int], **fields: object) -> list[int]:
    """Finished sessions of the first student created at T0 + minutes; their ids."""
    student, unit = world.students[0], world.units[0]
    ids = []
    for minute in minutes:
        row = HomeHoursStudySession.create(
            student=student,
            learning_unit=unit,
            teacher_agent=world.teacher,
            status=SessionStatus.COMPLETED,
            created_at=T0 + timedelta(minutes=minute),
            **fields,
        )
        ids.append(row.id)
    return ids


def newest_first(rows: list[StudySession]) -> list[int]:
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    return [r.id for r in ordered]


def all_keyset_pages(per_page: int, **options: object) -> list[list[int]]:
    pages, after = [], None
    while True:
        page = StudySession.keyset_page(after=after, per_page=per_page, **options)
        pages.append([r.id for r in page.items])
        if not page.has_next:
            assert page.next_cursor is None
            return pages
        after = page.next_cursor
        assert isinstance(after, str)


# -- get_by(limit=) -------------------------------------------------------------------------


def test_get_by_limit(db_session):
    with DatabaseManager.get_session():
        ids = [Subject.create(name=f"S{n}").id for n in range(5)]
        assert [s.id for s in Subject.get_by(limit=2)] == ids[:2]
        assert [s.id for s in Subject.get_by(id=ids[1:], limit=3)] == ids[1:4]
        assert Subject.get_by(limit=0) == []
        assert len(Subject.get_by(limit=10)) == 5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limit": -1}, "limit must be an int >= 0"),
        ({"limit": "2"}, "limit must be an int >= 0"),
        ({"limit": True}, "limit must be an int >= 0"),
        ({"limit": 2, "first": True}, "first=True reads one row"),
    ],
)
def test_get_by_limit_refused(options, message):
    with pytest.raises(InvalidFilterError, match=message):
        Subject.get_by(**options)


# -- offset pages ----------------------------------------------------------------------------


def test_offset_pages_shape_and_totals(db_session):
    with DatabaseManager.get_session():
        world = make_world(students=1)
        add_sessions(world, [1, 2, 3, 4, 5, 6, 7])
        expected = newest_first(StudySession.get_by())
        first = StudySession.page(page=1, per_page=3, order_by="-created_at", count=True)
        assert [r.id for r in first.items] == expected[:3]
        assert (first.page, first.per_page, first.total, first.pages) == (1, 3, 7, 3)
        assert (first.has_prev, first.prev_num) == (False, None)
        assert (first.has_next, first.next_num) == (True, 2)
        last = StudySession.page(page=3, per_page=3, order_by="-created_at")
        assert [r.id for r in last.items] == expected[6:]
        assert last.total is None and last.pages is None
        assert (last.has_prev, last.prev_num, last.has_next, last.next_num) == (
            True,
            2,
            False,
            None,
        )
        beyond = StudySession.page(page=9, per_page=3)
        assert beyond.items == () and not beyond.has_next
        exact = StudySession.page(page=1, per_page=7, count=True)
        assert not exact.has_next and exact.pages == 1
        # Filters as in get_by; default order is the primary key.
        mine = StudySession.page(per_page=100, student_id=world.students[0].id, status=FINISHED)
        assert [r.id for r in mine.items] == sorted(expected)
        with pytest.raises(dataclasses.FrozenInstanceError):
            first.page = 2  # type: ignore[misc]


def test_offset_page_knows_has_next_without_count(db_session, db_database):
    with DatabaseManager.get_session():
        world = make_world(students=1)
        add_sessions(world, [1, 2, 3])
        with selects(db_database.engine) as seen:
            page = StudySession.page(page=1, per_page=2)
        assert page.has_next
        assert len(seen) == 1 and "count(" not in seen[0].lower()
        with selects(db_database.engine) as seen:
            StudySession.page(page=1, per_page=2, count=True)
        assert len(seen) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"per_page": 0}, "per_page must be an int from 1 to 100"),
        ({"per_page": 101}, "per_page must be an int from 1 to 100"),
        ({"per_page": "20"}, "per_page must be an int from 1 to 100"),
        ({"page": 0}, "page must be an int >= 1"),
        ({"page": True}, "page must be an int >= 1"),
        ({"order_by": "password"}, "cannot be ordered by 'password'"),
        ({"order_by": "-nope"}, "cannot be ordered by 'nope'"),
        ({"order_by": 3}, "order_by takes"),
        ({"order_by": Subject.name}, "order_by takes"),
        ({"order_by": [Subject.id.desc()]}, "order_by takes"),
        ({"nope": 1}, "cannot be filtered on 'nope'"),
    ],
)
def test_offset_page_arguments_refused_before_sql(options, message):
    with pytest.raises(InvalidFilterError, match=message):
        StudySession.page(**options)


def test_secret_columns_cannot_order():
    with pytest.raises(InvalidFilterError, match="password_hash is secret"):
        Student.page(order_by="password_hash")


# -- keyset pages ----------------------------------------------------------------------------


def test_keyset_pages_follow_a_total_order_with_ties(db_session):
    with DatabaseManager.get_session():
        world = make_world(students=1)
        # Many rows share a created_at: the primary key breaks the ties.
        add_sessions(world, [5, 5, 5, 3, 3, 9, 1, 5, 3, 9, 7])
        expected = newest_first(StudySession.get_by())
        for per_page in (1, 2, 3, 4, 11, 100):
            pages = all_keyset_pages(per_page, order_by="-created_at")
            assert [i for p in pages for i in p] == expected
            assert all(len(p) == per_page for p in pages[:-1])
        ascending = all_keyset_pages(2, order_by=[StudySession.created_at])
        assert [i for p in ascending for i in p] == expected[::-1]
        # The same order as offset pages, and filters apply on every page.
        offset = [StudySession.page(page=n, per_page=4, order_by="-created_at") for n in (1, 2)]
        keyset = all_keyset_pages(4, order_by=StudySession.created_at.desc())
        assert keyset[:2] == [[r.id for r in p.items] for p in offset]
        mine = all_keyset_pages(3, order_by="-created_at", status=FINISHED, id=expected[:5])
        assert [i for p in mine for i in p] == expected[:5]


def test_keyset_pages_order_nulls_alike_on_every_backend(db_session):
    with DatabaseManager.get_session():
        world = make_world(students=1)
        ended = add_sessions(world, [1, 2, 3, 4], ended_at=T0)
        add_sessions(world, [5, 6, 7])  # ended_at NULL
        rows = StudySession.get_by()
        # NULL sorts as the smallest value, as MariaDB and SQLite do.
        expected = [
            r.id
            for r in sorted(rows, key=lambda r: (r.ended_at is not None, r.ended_at or T0, r.id))
        ]
        for per_page in (1, 2, 3):
            up = all_keyset_pages(per_page, order_by="ended_at")
            assert [i for p in up for i in p] == expected
            down = all_keyset_pages(per_page, order_by="-ended_at")
            assert [i for p in down for i in p] == expected[::-1]
        offset = StudySession.page(per_page=100, order_by="ended_at")
        assert [r.id for r in offset.items] == expected
        assert set(ended) == set(expected[3:])


def test_keyset_pages_are_stable_under_inserts(db_session):
    with DatabaseManager.get_session():
        world = make_world(students=1)
        add_sessions(world, [m for m in range(10, 40, 2)])  # 15 rows
        before = newest_first(StudySession.get_by())
        seen: list[int] = []
        inserted: list[int] = []
        after = None
        minute = 100
        while True:
            page = StudySession.keyset_page(after=after, per_page=4, order_by="-created_at")
            seen.extend(r.id for r in page.items)
            # New rows land before the cursor (newer), on its tie, and after it.
            last = page.items[-1].created_at
            offset_minutes = int((last - T0).total_seconds() // 60)
            inserted += add_sessions(world, [minute, offset_minutes, offset_minutes - 1])
            minute += 1
            if not page.has_next:
                break
            after = page.next_cursor
        assert len(seen) == len(set(seen)), "a row came twice"
        assert [i for i in seen if i in before] == before, "a row was skipped or moved"
        assert set(seen) - set(before) <= set(inserted)


def test_keyset_page_reads_one_statement(db_session, db_database):
    with DatabaseManager.get_session():
        world = make_world(students=1)
        add_sessions(world, [1, 2, 3])
        first = StudySession.keyset_page(per_page=2, order_by="-created_at")
        with selects(db_database.engine) as seen:
            second = StudySession.keyset_page(
                after=first.next_cursor, per_page=2, order_by="-created_at"
            )
        assert len(seen) == 1 and "count(" not in seen[0].lower()
        assert len(second.items) == 1 and not second.has_next


HISTORY_INDEX = "ix_study_sessions_student_id_created_at"


@contextmanager
def sent(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The (SQL, parameters) of each SELECT sent through `engine` inside the block."""
    seen: list[tuple[str, Any]] = []

    def collect(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", collect)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", collect)


def test_pages_read_the_index_of_their_filter_and_order(db_session, db_database):
    # On MySQL / MariaDB the optimizer may walk (student_id, created_at DESC, id DESC) by
    # `ref` on student_id alone, reading every row newer than the cursor (page 1,000 of
    # 25,000 sessions was 1.9x page 1); the page names the index that serves its filter
    # and order, so the keyset condition is a range on it. Other backends get no hint.
    with DatabaseManager.get_session():
        world = make_world(students=2)
        add_sessions(world, list(range(30)))
        student = world.students[0].id
        options: dict[str, Any] = {"order_by": "-created_at", "student_id": student}
        first = StudySession.keyset_page(per_page=5, status=FINISHED, **options)
        with sent(db_database.engine) as seen:
            StudySession.keyset_page(
                after=first.next_cursor, per_page=5, status=FINISHED, **options
            )
            StudySession.page(page=2, per_page=5, **options)
            # No index starts with (status, created_at): no hint, whatever the backend.
            StudySession.keyset_page(per_page=5, order_by="-created_at", status="completed")
        assert len(seen) == 3
        hint = f"FORCE INDEX ({HISTORY_INDEX})"
        if db_database.engine.dialect.name in ("mysql", "mariadb"):
            assert [hint in sql for sql, _ in seen] == [True, True, False]
            connection = get_current_session().connection()
            for sql, parameters in seen[:2]:
                plan = connection.exec_driver_sql("EXPLAIN " + sql, parameters).mappings()
                keys = {row["table"]: row["key"] for row in plan}
                assert keys == {"study_sessions": HISTORY_INDEX}, (sql, keys)
        else:
            assert not any("FORCE INDEX" in sql for sql, _ in seen)


ROSTER_INDEX = "ix_users_school_class_id_last_name"


def test_a_page_reads_the_index_that_serves_the_most_of_its_order(db_session, db_database):
    # users(school_class_id), (school_class_id, role) and (school_class_id, last_name,
    # first_name, id) all start with the first order column; only the last one gives the
    # page's rows in order, where the others make MariaDB sort every row that matches.
    with DatabaseManager.get_session():
        world = make_world(students=4)
        classes = [
            SchoolClass.create(school=world.school, name=name, grade_level=7)
            for name in ("7A", "7B")
        ]
        for number, student in enumerate(world.students):
            student.school_class = classes[number % 2]
        get_current_session().flush()
        with sent(db_database.engine) as seen:
            Student.page(
                per_page=2,
                order_by=["school_class_id", "last_name", "first_name"],
                school_class_id=[c.id for c in classes],
            )
        assert len(seen) == 1
        if db_database.engine.dialect.name in ("mysql", "mariadb"):
            sql, parameters = seen[0]
            assert f"FORCE INDEX ({ROSTER_INDEX})" in sql
            connection = get_current_session().connection()
            plan = list(connection.exec_driver_sql("EXPLAIN " + sql, parameters).mappings())
            assert [(row["key"], "filesort" in (row["Extra"] or "")) for row in plan] == [
                (ROSTER_INDEX, False)
            ]
        else:
            assert "FORCE INDEX" not in seen[0][0]


def _tamper(cursor: str) -> str:
    body, signature = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"][-1] = payload["k"][-1] + 1
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + signature


def test_bad_cursors_are_refused(db_session):
    with DatabaseManager.get_session():
        world = make_world(students=1)
        add_sessions(world, [1, 2, 3])
        cursor = StudySession.keyset_page(per_page=1, order_by="-created_at").next_cursor
        assert isinstance(cursor, str)
        bad = {
            "tampered": _tamper(cursor),
            "garbage": "not a cursor",
            "truncated": cursor[:-3],
            "empty": "",
            "huge": "a" * 5000 + "." + "b" * 43,
        }
        for name, value in bad.items():
            with pytest.raises(InvalidCursorError, match="from the first page") as info:
                StudySession.keyset_page(after=value, per_page=1, order_by="-created_at")
            assert value[:20] not in str(info.value) or name == "empty"
        with pytest.raises(InvalidCursorError, match="another order"):
            StudySession.keyset_page(after=cursor, per_page=1, order_by="created_at")
        with pytest.raises(InvalidCursorError, match="another order"):
            Subject.keyset_page(after=cursor, per_page=1, order_by="-id")
        with pytest.raises(InvalidCursorError, match="another"):
            Subject.keyset_page(after=cursor, per_page=1)
        with pytest.raises(InvalidCursorError, match="after takes"):
            StudySession.keyset_page(after=7, per_page=1)  # type: ignore[arg-type]
        # Another key: a cursor of another deployment (or an old key) is refused.
        pagination.set_cursor_key(b"o" * 32)
        with pytest.raises(InvalidCursorError, match="from the first page"):
            StudySession.keyset_page(after=cursor, per_page=1, order_by="-created_at")


def test_invalid_cursor_is_an_invalid_filter():
    assert issubclass(InvalidCursorError, InvalidFilterError)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"per_page": 0}, "per_page must be an int from 1 to 100"),
        ({"per_page": 101}, "per_page must be an int from 1 to 100"),
        ({"order_by": "password_hash"}, "cannot be ordered by 'password_hash'"),
        ({"nope": 1}, "cannot be filtered on 'nope'"),
    ],
)
def test_keyset_page_arguments_refused_before_sql(options, message):
    with pytest.raises(InvalidFilterError, match=message):
        StudySession.keyset_page(**options)


@pytest.mark.parametrize("key", [b"", ""])
def test_cursor_key_must_not_be_empty(key):
    with pytest.raises(ConfigurationError, match="cursor key is empty"):
        pagination.set_cursor_key(key)
