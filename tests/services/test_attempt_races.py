"""Taking a test under concurrency, with real commits: one submission wins, a double
start gives one attempt, and the score counts exactly the answers recorded before it.

Each thread first reads in its unit of work, as a web request does (the login check),
so on MariaDB (REPEATABLE READ) its snapshot predates the other threads' commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from studyhall.database import DatabaseManager, get_current_session
from studyhall.db.engine import Database
from studyhall.models import AssessmentAttempt, AssessmentChoice, AttemptAnswer, StudySession
from studyhall.services import assessment_attempts as attempts
from studyhall.services.errors import AlreadySubmittedError
from studyhall.services.study_session import lifecycle
from tests.models.factories import make_assessment, make_world
from tests.services.test_concurrency import TIMEOUT, race

THREADS = 8


@dataclass(frozen=True)
class Running:
    session_id: int
    # question id -> its correct choice id
    right: dict[int, int]


@pytest.fixture
def running(tables: Database) -> Running:
    with DatabaseManager.get_session():
        world = make_world(students=1)
        assessment = make_assessment(world.units[0], questions=THREADS)
        right = {q.id: next(c.id for c in q.choices if c.is_correct) for q in assessment.questions}
    planned = lifecycle.create_home_study_session(world.students[0].id, world.units[0].id)
    return Running(lifecycle.start(planned.id).id, right)


def after_a_read(backend: str, calls: list[Callable[[], object]]) -> list[Callable[[], object]]:
    """Each call in a unit of work that has read before any of them goes on (SQLite: in a
    unit of its own), so that every snapshot predates every other thread's commit."""
    if backend == "sqlite":
        # A writable unit holds SQLite's write lock from its first statement: threads that
        # read first would all wait for the one at the barrier. No snapshot can be stale.
        return calls
    have_read = threading.Barrier(len(calls))

    def after(call: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            with DatabaseManager.get_session():
                get_current_session().scalar(select(func.count()).select_from(StudySession))
                have_read.wait(TIMEOUT)
                return call()

        return run

    return [after(call) for call in calls]


def test_concurrent_starts_give_one_attempt(backend, running):
    start = lambda: attempts.start_attempt(running.session_id).id  # noqa: E731
    started, errors = race(after_a_read(backend, [start] * THREADS))
    assert errors == [] and len(set(started)) == 1
    with DatabaseManager.get_session():
        assert AssessmentAttempt.count() == 1


def test_one_of_concurrent_submissions_wins(backend, running):
    attempt_id = attempts.start_attempt(running.session_id).id
    question, choice = next(iter(running.right.items()))
    attempts.record_answer(attempt_id, question, choice)

    submit = lambda: attempts.submit_attempt(attempt_id)  # noqa: E731
    submitted, errors = race(after_a_read(backend, [submit] * THREADS))

    assert len(submitted) == 1 and len(errors) == THREADS - 1
    assert all(isinstance(error, AlreadySubmittedError) for error in errors), errors
    with DatabaseManager.get_session():
        attempt = AssessmentAttempt.get(attempt_id)
        assert attempt is not None
        assert (attempt.correct_count, attempt.question_count) == (1, THREADS)


def test_the_score_counts_exactly_the_answers_recorded_before_the_submission(backend, running):
    attempt_id = attempts.start_attempt(running.session_id).id
    calls: list[Callable[[], object]] = [
        lambda q=q, c=c: attempts.record_answer(attempt_id, q, c) for q, c in running.right.items()
    ]
    # The submission runs once some answers are in, racing the others.
    some_in = threading.Event()

    def submit() -> object:
        some_in.wait(30)
        return attempts.submit_attempt(attempt_id)

    def answer_then_signal(call: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            try:
                return call()
            finally:
                some_in.set()

        return run

    results, errors = race(after_a_read(backend, [*map(answer_then_signal, calls), submit]))

    assert all(isinstance(error, AlreadySubmittedError) for error in errors), errors
    with DatabaseManager.get_session():
        attempt = AssessmentAttempt.get(attempt_id)
        assert attempt is not None and attempt.submitted_at is not None
        recorded = AttemptAnswer.get_by(attempt_id=attempt_id)
        assert attempt.correct_count == len(recorded) == THREADS - len(errors)
        assert all(AssessmentChoice.get(a.choice_id).is_correct for a in recorded)
