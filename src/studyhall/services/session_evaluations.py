"""`evaluate_session`: the Evaluator's assessment of a completed study session, written once.

Ending a session enqueues its evaluation job (`request_evaluation`, in the same unit of
work: the job exists if and only if the session is completed). The job's handler
(`studyhall.jobs.evaluator`) calls `evaluate_session` in the job's unit of work: it reads
what the session did (its submitted test attempt, the questions missed, the student's
messages, its duration from start to last activity), asks the first active Evaluator
agent (`agents.agent_for`: the built-in one unless its row names another) and records
the result. Exactly one evaluation per session: the session's row is locked first, so
runs of one session's job queue up and the next finds the first's evaluation, and
`evaluations.study_session_id` is UNIQUE, so a run that loses a race anyway returns the
winner's evaluation instead of writing another.
"""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from studyhall.db.decorators import with_db_session
from studyhall.db.transaction import get_current_session
from studyhall.models import (
    AgentType,
    AIAgent,
    Assessment,
    AssessmentAttempt,
    AssessmentChoice,
    AssessmentQuestion,
    AttemptAnswer,
    Evaluation,
    LearningUnit,
    MessageRole,
    SessionStatus,
    StudyMessage,
    StudySession,
)
from studyhall.models.evaluation import MAX_SCORE, MIN_SCORE
from studyhall.services.agents import EvaluationRequest, EvaluationResult, UnitRef, agent_for
from studyhall.services.errors import (
    InvalidArgumentError,
    InvalidTransitionError,
    NotFoundError,
)
from studyhall.services.job_queue import enqueue

# The job kind of an evaluation (its handler: `studyhall.jobs.evaluator`), its payload's key.
EVALUATION_JOB = "evaluator.evaluate"
SESSION_ID = "study_session_id"


def request_evaluation(study_session_id: int) -> int | None:
    """Enqueue the evaluation job of a session in the current unit of work. One job per
    session (its key); the job's id, or None when the session has one already."""
    return enqueue(
        EVALUATION_JOB, {SESSION_ID: study_session_id}, key=f"{EVALUATION_JOB}:{study_session_id}"
    )


@with_db_session
def evaluate_session(study_session_id: int) -> Evaluation:
    """The Evaluator's assessment of a completed session: written now, or the one written
    before. Joins the active unit of work, else opens one."""
    session = get_current_session()
    # Runs evaluating one session queue up on its row; MariaDB takes no snapshot before.
    status = session.execute(
        select(StudySession.status).where(StudySession.id == study_session_id).with_for_update()
    ).scalar_one_or_none()
    if status is None:
        raise NotFoundError(f"No study session has id {study_session_id}; check the id.")
    existing = _evaluation_of(study_session_id)
    if existing is not None:
        return existing
    if status != SessionStatus.COMPLETED:
        raise InvalidTransitionError(
            f"Study session {study_session_id} is {status.value}; only completed sessions "
            "are evaluated. End it first."
        )
    evaluator = AIAgent.get_by(agent_type=AgentType.EVALUATOR, is_active=True, first=True)
    if evaluator is None:
        raise NotFoundError(
            "No active Evaluator agent exists to evaluate the session; create or activate "
            "one, then retry the job."
        )
    result = agent_for(evaluator).evaluate(evaluation_request(study_session_id))
    _check(result, evaluator)
    return _record(study_session_id, evaluator.id, result)


def evaluation_request(study_session_id: int) -> EvaluationRequest:
    """What the Evaluator is given about a session. Requires an active session."""
    session = get_current_session()
    study_session = session.get(StudySession, study_session_id)
    if study_session is None:
        raise NotFoundError(f"No study session has id {study_session_id}; check the id.")
    unit: LearningUnit = study_session.learning_unit
    messages = session.scalar(
        select(func.count())
        .select_from(StudyMessage)
        .where(
            StudyMessage.study_session_id == study_session_id,
            StudyMessage.role == MessageRole.STUDENT,
        )
    )
    attempt = session.scalars(
        select(AssessmentAttempt)
        .where(
            AssessmentAttempt.study_session_id == study_session_id,
            AssessmentAttempt.submitted_at.is_not(None),
        )
        .order_by(AssessmentAttempt.id.desc())
        .limit(1)
    ).first()
    unit_ref = UnitRef(unit.id, unit.position, unit.title)
    minutes = (study_session.duration_seconds or 0) / 60
    if attempt is None:
        title = session.scalars(
            select(Assessment.title)
            .where(Assessment.learning_unit_id == unit.id)
            .order_by(Assessment.id)
            .limit(1)
        ).first()
        return EvaluationRequest(
            unit_ref,
            0,
            0,
            (),
            int(messages or 0),
            minutes,
            submitted=False,
            assessment_title=title,
        )
    return EvaluationRequest(
        unit_ref,
        attempt.correct_count or 0,
        attempt.question_count or 0,
        _missed(attempt),
        int(messages or 0),
        minutes,
        submitted=True,
        assessment_title=attempt.assessment.title,
    )


def _missed(attempt: AssessmentAttempt) -> tuple[str, ...]:
    """The prompts of the attempt's questions answered wrong or left out, in order."""
    right = (
        select(AttemptAnswer.question_id)
        .join(
            AssessmentChoice,
            and_(
                AssessmentChoice.id == AttemptAnswer.choice_id,
                AssessmentChoice.is_correct.is_(True),
            ),
        )
        .where(AttemptAnswer.attempt_id == attempt.id)
    )
    query = (
        select(AssessmentQuestion.prompt)
        .where(
            AssessmentQuestion.assessment_id == attempt.assessment_id,
            AssessmentQuestion.id.not_in(right),
        )
        .order_by(AssessmentQuestion.position)
    )
    return tuple(get_current_session().scalars(query))


def _check(result: EvaluationResult, evaluator: AIAgent) -> None:
    """Refuse what no evaluation may hold, naming the agent that gave it."""
    valid = isinstance(result.score, int) and not isinstance(result.score, bool)
    if not valid or not MIN_SCORE <= result.score <= MAX_SCORE:
        raise InvalidArgumentError(
            f"Evaluator agent {evaluator.name!r} gave the score {result.score!r}; a score is "
            f"a whole number from {MIN_SCORE} to {MAX_SCORE}. Fix the agent's implementation."
        )
    if not isinstance(result.feedback, str) or not result.feedback.strip():
        raise InvalidArgumentError(
            f"Evaluator agent {evaluator.name!r} gave no feedback; an evaluation says why "
            "the session got its score. Fix the agent's implementation."
        )


def _evaluation_of(study_session_id: int) -> Evaluation | None:
    query = select(Evaluation).where(Evaluation.study_session_id == study_session_id)
    return get_current_session().scalars(query).first()


@with_db_session(propagation="nested")
def _insert(study_session_id: int, evaluator_id: int, result: EvaluationResult) -> Evaluation:
    """The INSERT in a savepoint: when a concurrent run's evaluation wins the UNIQUE
    study_session_id, the transaction goes on (PostgreSQL would refuse every statement)."""
    return Evaluation.create(
        study_session_id=study_session_id,
        evaluator_agent_id=evaluator_id,
        score=result.score,
        feedback=result.feedback.strip(),
    )


def _record(study_session_id: int, evaluator_id: int, result: EvaluationResult) -> Evaluation:
    try:
        return _insert(study_session_id, evaluator_id, result)
    except IntegrityError:
        existing = _evaluation_of(study_session_id)
        if existing is None:
            raise
        return existing


__all__ = [
    "EVALUATION_JOB",
    "SESSION_ID",
    "evaluate_session",
    "evaluation_request",
    "request_evaluation",
]
