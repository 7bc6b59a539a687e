"""Taking a unit's test in a running study session: start, answer, submit once.

    start_attempt --> record_answer (any number, an answer may change) --> submit_attempt

Every operation needs the session to be active, and writes first: a guarded UPDATE of
the attempt (`... WHERE submitted_at IS NULL`), then of the session (`... WHERE status =
'active'`, which also marks it active now), as `study_session.lifecycle` does. So
concurrent answers and submissions of one attempt queue up on its row, nothing is
answered after the submission, and on SQLite the write lock comes before any read. Once
it holds the lock, the submission counts in an UPDATE of its own, so every answer
committed before it counts. An existing attempt or answer is read locked (FOR UPDATE),
as committed now: MariaDB's REPEATABLE READ snapshot, taken by a web request's first
read, may predate it (a double-clicked start would then insert a second attempt).

The score is the share of the test's questions answered right; an unanswered question
counts as wrong. One attempt per test and session (the database refuses a second one).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import selectinload

from studyhall.db.decorators import with_db_session
from studyhall.db.transaction import get_current_session
from studyhall.models import (
    Assessment,
    AssessmentAttempt,
    AssessmentChoice,
    AssessmentQuestion,
    AttemptAnswer,
    SessionStatus,
    StudySession,
)
from studyhall.models.types import utcnow
from studyhall.services.errors import (
    AlreadySubmittedError,
    InvalidArgumentError,
    InvalidTransitionError,
    NotFoundError,
)
from studyhall.services.guarded_update import guarded_update

M = TypeVar("M")


@with_db_session
def start_attempt(study_session_id: int) -> AssessmentAttempt:
    """The student's attempt at the test of the session's unit: the open one, or a new one.

    Raises AlreadySubmittedError when this session's attempt was submitted.
    """
    study_session = _running(study_session_id, "take the test in")
    unit = study_session.learning_unit
    assessment = unit_test(unit.id)
    if assessment is None:
        raise NotFoundError(
            f"The unit '{unit.title}' has no test yet; ask your teacher, or study on."
        )
    existing = _latest(
        AssessmentAttempt,
        AssessmentAttempt.study_session_id == study_session.id,
        AssessmentAttempt.assessment_id == assessment.id,
    )
    if existing is not None:
        if existing.submitted_at is not None:
            raise _already_submitted(existing)
        return existing
    return AssessmentAttempt.create(
        student_id=study_session.student_id,
        study_session_id=study_session.id,
        assessment_id=assessment.id,
    )


@with_db_session
def record_answer(attempt_id: int, question_id: int, choice_id: int) -> AttemptAnswer:
    """Record (or change) the answer of an open attempt to one question of its test."""
    now = utcnow()
    attempt = _open(attempt_id, answered_at=now)
    _running(attempt.study_session_id, "answer the test in")
    question = get_current_session().get(AssessmentQuestion, question_id)
    if question is None or question.assessment_id != attempt.assessment_id:
        raise InvalidArgumentError(
            f"Question {question_id} is not a question of the test '{attempt.assessment.title}'; "
            "answer the questions shown with it."
        )
    choice = get_current_session().get(AssessmentChoice, choice_id)
    if choice is None or choice.question_id != question.id:
        raise InvalidArgumentError(
            f"Choice {choice_id} is not one of the choices of question {question.position}; "
            "pick one of the choices shown with it."
        )
    answer = _latest(
        AttemptAnswer,
        AttemptAnswer.attempt_id == attempt.id,
        AttemptAnswer.question_id == question.id,
    )
    if answer is None:
        return AttemptAnswer.create(
            attempt_id=attempt.id, question_id=question.id, choice_id=choice.id, answered_at=now
        )
    answer.choice_id, answer.answered_at = choice.id, now
    get_current_session().flush()
    return answer


@with_db_session
def submit_attempt(attempt_id: int) -> AssessmentAttempt:
    """Submit an open attempt: it is scored and takes no more answers."""
    # Lock first, count after: on PostgreSQL one UPDATE that waited for the lock of an
    # answer being recorded would count with the snapshot it began with, before that answer.
    attempt = _open(attempt_id, answered_at=AssessmentAttempt.answered_at)
    _running(attempt.study_session_id, "submit the test in")
    session = get_current_session()
    session.execute(
        update(AssessmentAttempt)
        .where(AssessmentAttempt.id == attempt_id)
        .values(
            submitted_at=utcnow(),
            correct_count=_correct_count(attempt_id),
            question_count=_question_count(),
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(attempt)
    return attempt


def attempt_of(study_session_id: int) -> AssessmentAttempt | None:
    """The session's attempt at its unit's test, if one was started. Requires a session."""
    query = (
        select(AssessmentAttempt)
        .where(AssessmentAttempt.study_session_id == study_session_id)
        .order_by(AssessmentAttempt.id.desc())
        .limit(1)
    )
    return get_current_session().scalars(query).first()


def questions_of(assessment_id: int) -> list[AssessmentQuestion]:
    """A test's questions in order, each with its choices loaded: two statements, whatever
    their number. Requires an active session."""
    query = (
        select(AssessmentQuestion)
        .where(AssessmentQuestion.assessment_id == assessment_id)
        .order_by(AssessmentQuestion.position)
        .options(selectinload(AssessmentQuestion.choices))
    )
    return list(get_current_session().scalars(query))


def unit_test(learning_unit_id: int) -> Assessment | None:
    """The test of a learning unit (its first), or None. Requires an active session."""
    return Assessment.get_by(learning_unit_id=learning_unit_id, first=True)


def _latest(model: type[M], *criteria: ColumnElement[bool]) -> M | None:
    """The row of `model` meeting `criteria` as committed now, locked: on MariaDB a plain
    read would see the transaction's snapshot, which may predate a row committed since."""
    query = select(model).where(*criteria).with_for_update().limit(1)
    return get_current_session().scalars(query).first()


def _correct_count(attempt_id: int) -> Any:
    """The attempt's right answers, as a subquery of the submission's UPDATE (which reads
    the rows as committed now on MariaDB too: InnoDB's reads inside an UPDATE lock)."""
    return (
        select(func.count())
        .select_from(AttemptAnswer)
        .join(AssessmentChoice, AssessmentChoice.id == AttemptAnswer.choice_id)
        .where(AttemptAnswer.attempt_id == attempt_id, AssessmentChoice.is_correct)
        .scalar_subquery()
    )


def _question_count() -> Any:
    """The questions of the attempt's test, correlated to the UPDATE's row."""
    return (
        select(func.count())
        .select_from(AssessmentQuestion)
        .where(AssessmentQuestion.assessment_id == AssessmentAttempt.assessment_id)
        .correlate(AssessmentAttempt)
        .scalar_subquery()
    )


def _open(attempt_id: int, **values: Any) -> AssessmentAttempt:
    """Apply `values` to the attempt if it is not submitted; return it fresh."""
    attempt, applied = guarded_update(
        AssessmentAttempt, attempt_id, AssessmentAttempt.submitted_at.is_(None), **values
    )
    if attempt is None:
        raise NotFoundError(f"No test attempt has id {attempt_id}; check the id.")
    if not applied:
        raise _already_submitted(attempt)
    return attempt


def _running(study_session_id: int, verb: str) -> StudySession:
    """Mark the session active now if it is active; return it fresh."""
    study_session, applied = guarded_update(
        StudySession,
        study_session_id,
        StudySession.status == SessionStatus.ACTIVE,
        updated_at=utcnow(),
    )
    if study_session is None:
        raise NotFoundError(f"No study session has id {study_session_id}; check the id.")
    if not applied:
        raise InvalidTransitionError(
            f"Cannot {verb} the study session on '{study_session.learning_unit.title}': it is "
            f"{study_session.status.value}, and only active sessions allow that. Start a new "
            "study session on the unit to take its test."
        )
    return study_session


def _already_submitted(attempt: AssessmentAttempt) -> AlreadySubmittedError:
    return AlreadySubmittedError(
        f"This test was already submitted in this study session ({attempt.correct_count} of "
        f"{attempt.question_count} right); a test is submitted once. Its result stays as it is."
    )


__all__ = [
    "M",
    "attempt_of",
    "record_answer",
    "start_attempt",
    "submit_attempt",
    "questions_of",
    "unit_test",
]
