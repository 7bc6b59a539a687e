"""The Evaluator's job: ending a session enqueues it, a worker writes one evaluation
however often it runs, on every backend (committed for real, as the app and worker do)."""

from __future__ import annotations

import threading

from sqlalchemy import select

from studyhall.database import DatabaseManager
from studyhall.jobs import Worker, enqueue, load_builtin_handlers
from studyhall.models import Evaluation, Job, JobStatus
from studyhall.services.session_evaluations import EVALUATION_JOB, SESSION_ID, evaluate_session
from tests.models.factories import World, make_world
from tests.services.test_session_evaluations import TWO_OF_THREE_SCORE, evaluations, studied


def world() -> World:
    with DatabaseManager.get_session():
        return make_world(students=1)


def evaluation_jobs() -> list[Job]:
    with DatabaseManager.get_session() as session:
        query = select(Job).where(Job.kind == EVALUATION_JOB).order_by(Job.id)
        return list(session.scalars(query))


def test_ending_a_session_gets_its_evaluation_through_the_job_once(jobs_db):
    load_builtin_handlers()
    session_id = studied(world(), right=2)
    assert [job.payload for job in evaluation_jobs()] == [{SESSION_ID: session_id}]

    assert Worker(jobs_db, kinds=[EVALUATION_JOB]).run_pending() == 1

    [evaluation] = evaluations(session_id)
    assert evaluation.score == TWO_OF_THREE_SCORE
    assert '"Q3?"' in evaluation.feedback

    # The job again, as a re-run after a lost lease or a retry would run it.
    with DatabaseManager.get_session():
        enqueue(EVALUATION_JOB, {SESSION_ID: session_id}, key=f"again:{session_id}")
    assert Worker(jobs_db, kinds=[EVALUATION_JOB]).run_pending() == 1
    assert [e.id for e in evaluations(session_id)] == [evaluation.id]
    assert [job.status for job in evaluation_jobs()] == [JobStatus.DONE, JobStatus.DONE]


def test_concurrent_runs_write_one_evaluation(jobs_db):
    session_id = studied(world(), right=3)
    barrier = threading.Barrier(4)
    written: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(10)
            written.append(evaluate_session(session_id).id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    [evaluation] = evaluations(session_id)
    assert written == [evaluation.id] * 4


def test_a_session_without_a_test_attempt_is_evaluated_on_taking_part(jobs_db):
    load_builtin_handlers()
    session_id = studied(world(), right=None, messages=2, minutes=10)

    assert Worker(jobs_db, kinds=[EVALUATION_JOB]).run_pending() == 1

    [evaluation] = evaluations(session_id)
    assert evaluation.score == 10
    assert "you did not submit the test" in evaluation.feedback
    with DatabaseManager.get_session() as session:
        assert session.scalar(select(Evaluation.score)) == 10
