"""A thread's next unit of work reuses the session its last one closed, only when nothing
can tell (studyhall.db.spare_sessions), on every backend."""

from __future__ import annotations

import contextvars
import threading
import weakref
from typing import Any

import pytest
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from studyhall.database import get_current_session, with_db_session
from studyhall.db.engine import Database
from studyhall.models import School


@with_db_session
def current() -> Session:
    session = get_current_session()
    session.execute(select(1))
    return session


@with_db_session
def session_id() -> int:
    session = get_current_session()
    session.execute(select(1))
    return id(session)


def test_a_threads_units_reuse_one_session(database: Database) -> None:
    ids = {session_id() for _ in range(5)}
    assert len(ids) == 1


def test_a_session_the_application_kept_is_not_handed_out_again(database: Database) -> None:
    kept = current()
    assert id(kept) != session_id()
    again = current()
    assert again is not kept


def test_a_weakly_referenced_session_is_not_reused(database: Database) -> None:
    refs: list[weakref.ref[Session]] = []

    @with_db_session
    def remember() -> int:
        session = get_current_session()
        refs.append(weakref.ref(session))
        return id(session)

    first = remember()
    assert session_id() != first or refs[0]() is None


def test_a_copied_context_keeps_its_session_to_itself(database: Database) -> None:
    contexts: list[contextvars.Context] = []

    @with_db_session
    def copy() -> int:
        contexts.append(contextvars.copy_context())
        return id(get_current_session())

    first = copy()
    assert session_id() != first


def test_a_listener_added_to_one_session_does_not_follow_into_the_next(
    database: Database,
) -> None:
    calls: list[int] = []

    @with_db_session
    def listen() -> int:
        session = get_current_session()
        event.listen(session, "after_commit", lambda s: calls.append(1))
        session.execute(select(1))
        return id(session)

    listen()
    assert calls == [1]
    for _ in range(3):
        session_id()
    assert calls == [1]


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda s: setattr(s, "autoflush", False), lambda s: s.autoflush is True),
        (lambda s: setattr(s, "expire_on_commit", True), lambda s: s.expire_on_commit is False),
        (lambda s: setattr(s, "custom", 1), lambda s: not hasattr(s, "custom")),
        (lambda s: s.info.update(note="x"), lambda s: "note" not in s.info),
    ],
    ids=["autoflush", "expire_on_commit", "attribute", "info"],
)
def test_the_next_unit_starts_with_the_factorys_settings(
    database: Database, change: Any, check: Any
) -> None:
    @with_db_session
    def alter() -> None:
        change(get_current_session())

    alter()

    @with_db_session
    def checked() -> bool:
        return bool(check(get_current_session()))

    assert checked()


def test_objects_of_the_last_unit_stay_detached_from_the_next(tables: Database) -> None:
    @with_db_session
    def add() -> School:
        return School.create(name="Kept school")

    school = add()
    assert inspect(school).detached

    @with_db_session
    def look() -> tuple[bool, int]:
        session = get_current_session()
        loaded = session.scalars(select(School).where(School.id == school.id)).one()
        return school in session, len(session.identity_map) + (loaded is school)

    inside, count = look()
    assert not inside and count == 1
    assert inspect(school).detached and school.name == "Kept school"


def test_a_failed_unit_leaves_a_clean_session_for_the_next(tables: Database) -> None:
    @with_db_session
    def fail() -> None:
        School.create(name="Rolled back")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail()

    @with_db_session
    def count() -> tuple[int, int]:
        session = get_current_session()
        rows = session.scalars(select(School).where(School.name == "Rolled back")).all()
        return len(rows), len(session.new) + len(session.identity_map)

    assert count() == (0, 0)


def test_each_thread_has_its_own(database: Database) -> None:
    main = session_id()
    seen: list[int] = []
    barrier = threading.Barrier(2)

    def work() -> None:
        @with_db_session
        def hold() -> int:
            barrier.wait(timeout=10)  # both threads inside a unit at once
            return id(get_current_session())

        seen.append(hold())

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 2 and main not in seen
    assert session_id() == main  # this thread's spare was not taken by the others


def test_a_session_from_the_factory_with_arguments_is_new(database: Database) -> None:
    first = session_id()
    factory = database.session_factory
    other = factory(autoflush=False)
    try:
        assert id(other) != first and other.autoflush is False
    finally:
        other.close()
