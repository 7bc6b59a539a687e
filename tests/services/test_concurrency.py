"""The one-active-session invariant under concurrent starts, with real commits.

Each thread runs its own unit of work (sessions are per thread); the database decides.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from studyhall.database import DatabaseManager
from studyhall.db.engine import Database
from studyhall.models import Evaluation, SessionStatus, StudySession
from studyhall.services.errors import ActiveSessionExistsError, AlreadyEvaluatedError
from studyhall.services.study_session import lifecycle
from tests.models.factories import World, make_world

THREADS = 20
# Bounded: a hang (a lock never released) fails the test instead of stalling CI.
TIMEOUT = 60


@pytest.fixture
def world(tables: Database) -> World:
    with DatabaseManager.get_session():
        return make_world(students=1)


def race(calls: list[Callable[[], object]]) -> tuple[list[object], list[BaseException]]:
    """Run the calls at once, one thread each; return the results and the errors."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        barrier.wait(TIMEOUT)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        errors = [error for f in futures if (error := f.exception(TIMEOUT)) is not None]
        results = [f.result() for f in futures if f.exception() is None]
    return results, errors


def test_twenty_concurrent_starts_give_one_active_session(world):
    student_id = world.students[0].id
    session_ids = [
        lifecycle.create_home_study_session(student_id, world.units[n % 3].id).id
        for n in range(THREADS)
    ]

    started, errors = race([lambda sid=sid: lifecycle.start(sid) for sid in session_ids])

    assert len(started) == 1, errors
    assert len(errors) == THREADS - 1
    assert all(isinstance(error, ActiveSessionExistsError) for error in errors), errors
    with DatabaseManager.get_session():
        active = StudySession.get_by(student_id=student_id, status=SessionStatus.ACTIVE)
        assert [s.id for s in active] == [started[0].id]  # type: ignore[attr-defined]
        assert active[0].active_student_id == student_id and active[0].started_at is not None
        # The losers are untouched: still planned, never started, no invariant column.
        losers = StudySession.get_by(status=SessionStatus.PLANNED)
        assert len(losers) == THREADS - 1
        assert all(s.active_student_id is None and s.started_at is None for s in losers)


def test_concurrent_evaluations_record_one(world):
    session_id = lifecycle.create_home_study_session(world.students[0].id, world.units[0].id).id
    lifecycle.start(session_id)
    lifecycle.end(session_id)
    evaluator = world.evaluator.id

    evaluations, errors = race(
        [
            lambda n=n: lifecycle.evaluate_study_session(session_id, evaluator, n, f"try {n}")
            for n in range(5)
        ]
    )

    assert len(evaluations) == 1, errors
    assert all(isinstance(error, AlreadyEvaluatedError) for error in errors), errors
    with DatabaseManager.get_session():
        assert Evaluation.count(study_session_id=session_id) == 1
