"""The Evaluator's assessment of a completed session, written once, on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from studyhall.database import DatabaseManager
from studyhall.models import (
    AIAgent,
    AssessmentQuestion,
    Evaluation,
    Job,
    JobStatus,
    MessageRole,
    StudySession,
)
from studyhall.models.types import utcnow
from studyhall.services import assessment_attempts as attempts
from studyhall.services.agents import EvaluationResult, register_agent, registry
from studyhall.services.errors import InvalidArgumentError, InvalidTransitionError
from studyhall.services.session_evaluations import (
    EVALUATION_JOB,
    SESSION_ID,
    evaluate_session,
)
from studyhall.services.study_session import lifecycle
from tests.models.factories import World, make_assessment

# 2 of 3 right, 3 messages, 30 minutes: 80 * 2/3 + 20 * (3/4 + 1) / 2 = 53.33 + 17.5
TWO_OF_THREE_SCORE = 71


def studied(world: World, right: int | None, messages: int = 3, minutes: int = 30) -> int:
    """A session of student 0 on unit 1 (whose test has questions Q1?, Q2?, Q3?): started
    `minutes` ago, `messages` sent, the first `right` questions answered right and the
    others wrong (None: the test not taken); ended. Its id."""
    with DatabaseManager.get_session() as session:
        test = make_assessment(world.units[0])
        session_id = lifecycle.create_home_study_session(
            world.students[0].id, world.units[0].id
        ).id
        lifecycle.start(session_id)
        session.execute(
            update(StudySession)
            .where(StudySession.id == session_id)
            .values(started_at=utcnow() - timedelta(minutes=minutes))
        )
        for n in range(messages):
            lifecycle.add_message(session_id, MessageRole.STUDENT, f"Question {n}?")
        if right is not None:
            attempt = attempts.start_attempt(session_id)
            query = select(AssessmentQuestion).where(AssessmentQuestion.assessment_id == test.id)
            for question in session.scalars(query.order_by(AssessmentQuestion.position)):
                position = 1 if question.position <= right else 2  # choice 1 is right
                choice = next(c for c in question.choices if c.position == position)
                attempts.record_answer(attempt.id, question.id, choice.id)
            attempts.submit_attempt(attempt.id)
        lifecycle.end(session_id)
    return session_id


def evaluations(session_id: int) -> list[Evaluation]:
    with DatabaseManager.get_session() as session:
        query = select(Evaluation).where(Evaluation.study_session_id == session_id)
        return list(session.scalars(query))


def test_ending_a_session_enqueues_its_evaluation_with_it(world):
    session_id = studied(world, right=2)
    with DatabaseManager.get_session() as session:
        jobs = session.scalars(select(Job).where(Job.kind == EVALUATION_JOB)).all()
    assert [(job.payload, job.dedupe_key, job.status) for job in jobs] == [
        ({SESSION_ID: session_id}, f"{EVALUATION_JOB}:{session_id}", JobStatus.QUEUED)
    ]


def test_no_evaluation_job_when_the_end_is_rolled_back(world):
    session_id = lifecycle.create_home_study_session(world.students[0].id, world.units[0].id).id
    lifecycle.start(session_id)
    with pytest.raises(RuntimeError), DatabaseManager.get_session():
        lifecycle.end(session_id)
        raise RuntimeError("rolled back")
    with DatabaseManager.get_session() as session:
        assert session.scalars(select(Job).where(Job.kind == EVALUATION_JOB)).all() == []


def test_the_score_combines_the_test_and_taking_part(world):
    session_id = studied(world, right=2)

    evaluation = evaluate_session(session_id)

    assert (evaluation.score, evaluation.evaluator_agent_id) == (
        TWO_OF_THREE_SCORE,
        world.evaluator.id,
    )
    assert 'you answered 2 of 3 questions of "Test of Unit 1" right' in evaluation.feedback
    assert evaluation.feedback.endswith(
        'Revisit unit 1, "Unit 1" for the questions you missed: "Q3?".'
    )


def test_a_second_run_returns_the_first_evaluation(world):
    session_id = studied(world, right=3)
    first = evaluate_session(session_id)
    again = evaluate_session(session_id)
    assert again.id == first.id
    assert [e.id for e in evaluations(session_id)] == [first.id]


@pytest.mark.parametrize(("messages", "minutes", "score"), [(0, 0, 0), (2, 10, 10), (9, 90, 20)])
def test_a_session_without_a_submitted_test_scores_taking_part_alone(
    world, messages, minutes, score
):
    session_id = studied(world, right=None, messages=messages, minutes=minutes)

    evaluation = evaluate_session(session_id)

    assert evaluation.score == score
    assert evaluation.feedback.startswith(
        f'Score {score} of 100: you did not submit the test "Test of Unit 1"'
    )
    assert evaluation.feedback.endswith(
        'Revisit unit 1, "Unit 1" and take its test in your next session on it.'
    )


@pytest.mark.parametrize("path", [("start",), ("cancel",), ()])
def test_only_completed_sessions_are_evaluated(world, path):
    session_id = lifecycle.create_home_study_session(world.students[0].id, world.units[0].id).id
    for step in path:
        getattr(lifecycle, step)(session_id)
    with pytest.raises(InvalidTransitionError, match="only completed sessions are evaluated"):
        evaluate_session(session_id)
    assert evaluations(session_id) == []


class Careless:
    """A plugged-in Evaluator that gives a score out of range."""

    def __init__(self, config):
        self.config = config

    def reply(self, request):
        raise NotImplementedError

    def evaluate(self, request):
        return EvaluationResult(score=120, feedback="Great!")


def test_a_plugged_in_evaluators_invalid_result_is_refused(world, monkeypatch):
    monkeypatch.setattr(registry, "_FACTORIES", {})
    register_agent("careless", Careless)
    session_id = studied(world, right=1)
    with DatabaseManager.get_session() as session:
        evaluator = session.get(AIAgent, world.evaluator.id)
        evaluator.model_name = "careless:v1"
    with pytest.raises(InvalidArgumentError, match="'Eve' gave the score 120"):
        evaluate_session(session_id)
    assert evaluations(session_id) == []
