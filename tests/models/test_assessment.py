"""Tests and attempts: the database itself keeps one correct choice per question, one
answer per question of an attempt, answers to the question's own choices, one attempt
per test and study session, and a score only on a submitted attempt."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import IntegrityError

from studyhall.database import DatabaseManager, get_current_session
from studyhall.models import (
    Assessment,
    AssessmentAttempt,
    AssessmentChoice,
    AssessmentQuestion,
    AttemptAnswer,
    HomeHoursStudySession,
    SessionStatus,
    StudySession,
)
from tests.models.factories import World, make_assessment, make_world
from tests.models.test_constraints import assert_refused_and_unchanged


def choice(question: AssessmentQuestion, position: int) -> AssessmentChoice:
    return next(c for c in question.choices if c.position == position)


def questions(assessment: Assessment) -> list[AssessmentQuestion]:
    return sorted(assessment.questions, key=lambda q: q.position)


@pytest.fixture
def world(db_session) -> World:
    """The factory world, a test of unit 1 and an active session with an open attempt."""
    with DatabaseManager.get_session():
        world = make_world(students=1)
        assessment = make_assessment(world.units[0])
        student = world.students[0]
        study_session = HomeHoursStudySession.create(
            student=student,
            learning_unit=world.units[0],
            teacher_agent=world.teacher,
            status=SessionStatus.ACTIVE,
            active_student_id=student.id,
        )
        attempt = AssessmentAttempt.create(
            student=student, study_session=study_session, assessment=assessment
        )
        first = questions(assessment)[0]
        AttemptAnswer.create(attempt=attempt, question_id=first.id, choice_id=choice(first, 2).id)
        return world


def the_attempt() -> AssessmentAttempt:
    (attempt,) = AssessmentAttempt.get_by()
    return attempt


def the_questions() -> list[AssessmentQuestion]:
    return questions(the_attempt().assessment)


def second_correct_choice(w: World) -> object:
    return AssessmentChoice.create(
        question_id=the_questions()[0].id, position=9, text="Also right", is_correct=True
    )


def mark_second_correct(w: World) -> object:
    question = the_questions()[1]
    return get_current_session().execute(
        update(AssessmentChoice)
        .where(AssessmentChoice.id == choice(question, 2).id)
        .values(is_correct=True)
    )


def move_correct_choice(w: World) -> object:
    """A correct choice moved to a question that has one already."""
    first, second = the_questions()[:2]
    return get_current_session().execute(
        update(AssessmentChoice)
        .where(AssessmentChoice.id == choice(second, 1).id)
        .values(question_id=first.id, position=8)
    )


def second_answer(w: World) -> object:
    first = the_questions()[0]
    return AttemptAnswer.create(
        attempt_id=the_attempt().id, question_id=first.id, choice_id=choice(first, 3).id
    )


def choice_of_another_question(w: World) -> object:
    first, second = the_questions()[:2]
    return AttemptAnswer.create(
        attempt_id=the_attempt().id, question_id=second.id, choice_id=choice(first, 1).id
    )


def second_attempt(w: World) -> object:
    attempt = the_attempt()
    return AssessmentAttempt.create(
        student_id=attempt.student_id,
        study_session_id=attempt.study_session_id,
        assessment_id=attempt.assessment_id,
    )


def execute(sql: str) -> Callable[[World], object]:
    return lambda w: get_current_session().execute(text(sql))


VIOLATIONS: dict[str, Callable[[World], object]] = {
    "a second correct choice of a question": second_correct_choice,
    "an incorrect choice updated to correct": mark_second_correct,
    "a correct choice moved to a question with one": move_correct_choice,
    "a second answer to a question of an attempt": second_answer,
    "a choice of another question": choice_of_another_question,
    "a second attempt at the test in one session": second_attempt,
    "a score without submission": execute(
        "UPDATE assessment_attempts SET correct_count = 1, question_count = 3"
    ),
    "a submission without a score": execute(
        "UPDATE assessment_attempts SET submitted_at = started_at"
    ),
    "more correct answers than questions": execute(
        "UPDATE assessment_attempts SET submitted_at = started_at, correct_count = 4,"
        " question_count = 3"
    ),
    "a negative count": execute(
        "UPDATE assessment_attempts SET submitted_at = started_at, correct_count = -1,"
        " question_count = 3"
    ),
    "deleting a chosen choice": execute(
        "DELETE FROM assessment_choices WHERE id IN (SELECT choice_id FROM attempt_answers)"
    ),
}


@pytest.mark.parametrize("violation", list(VIOLATIONS))
def test_violation_raises_and_changes_nothing(world, violation):
    assert_refused_and_unchanged(lambda: VIOLATIONS[violation](world))


def test_a_second_correct_choice_is_an_integrity_error_on_every_backend(world):
    with pytest.raises(IntegrityError):
        with DatabaseManager.get_session():
            second_correct_choice(world)


def test_what_the_constraints_allow(world):
    with DatabaseManager.get_session():
        attempt = the_attempt()
        first, second, third = the_questions()
        # Any number of incorrect choices; a question without a correct one yet.
        AssessmentChoice.create(question=first, position=7, text="Wrong too", is_correct=False)
        unanswerable = AssessmentQuestion.create(
            assessment=attempt.assessment, position=9, prompt="Open?"
        )
        AssessmentChoice.create(question=unanswerable, position=1, text="No", is_correct=False)
        AssessmentChoice.create(question=unanswerable, position=2, text="Nay", is_correct=False)
        # The correct choice moves within its question.
        get_current_session().execute(
            update(AssessmentChoice)
            .where(AssessmentChoice.question_id == third.id)
            .values(is_correct=AssessmentChoice.position == 3)
        )
        AttemptAnswer.create(
            attempt=attempt, question_id=second.id, choice_id=choice(second, 1).id
        )
        attempt.submitted_at = attempt.started_at
        attempt.correct_count, attempt.question_count = 1, 4
        get_current_session().flush()
    with DatabaseManager.get_session():
        attempt = the_attempt()
        assert attempt.score == pytest.approx(0.25)
        assert [q.correct_choice.position for q in the_questions() if q.correct_choice] == [
            1,
            1,
            3,
        ]
        assert {a.question_id: a.choice.position for a in attempt.answers} == {
            first.id: 2,
            second.id: 1,
        }


def test_an_open_attempt_has_no_score(world):
    with DatabaseManager.get_session():
        attempt = the_attempt()
        assert attempt.submitted_at is None and attempt.score is None


def test_attempts_and_answers_go_with_their_study_session(world):
    with DatabaseManager.get_session() as session:
        session.execute(delete(StudySession.__table__))
    with DatabaseManager.get_session():
        assert AssessmentAttempt.count() == 0 and AttemptAnswer.count() == 0
        assert AssessmentChoice.count() == 9  # the test stays
