"""Taking a unit's test in a study session: start, answer, submit once, scored."""

from __future__ import annotations

import pytest

from studyhall.database import DatabaseManager
from studyhall.models import (
    Assessment,
    AssessmentAttempt,
    AssessmentChoice,
    AssessmentQuestion,
    AttemptAnswer,
    StudySession,
)
from studyhall.services import assessment_attempts as attempts
from studyhall.services.errors import (
    AlreadySubmittedError,
    InvalidArgumentError,
    InvalidTransitionError,
    NotFoundError,
)
from studyhall.services.study_session import lifecycle
from tests.models.factories import World, make_assessment


def running_session(world: World, unit: int = 0) -> StudySession:
    planned = lifecycle.create_home_study_session(world.students[0].id, world.units[unit].id)
    return lifecycle.start(planned.id)


def questions(assessment_id: int) -> list[AssessmentQuestion]:
    return AssessmentQuestion.get_by(assessment_id=assessment_id)


def choice(question: AssessmentQuestion, position: int) -> int:
    return next(c.id for c in question.choices if c.position == position)


@pytest.fixture
def unit_test(world: World) -> Assessment:
    """A test of unit 1 with three questions; choice 1 of each is correct."""
    with DatabaseManager.get_session():
        return make_assessment(world.units[0])


def test_two_of_three_right_scores_two_thirds(world, unit_test):
    with DatabaseManager.get_session():
        attempt = attempts.start_attempt(running_session(world).id)
        assert (attempt.assessment_id, attempt.student_id) == (unit_test.id, world.students[0].id)
        assert attempt.submitted_at is None and attempt.score is None
        first, second, third = questions(unit_test.id)
        attempts.record_answer(attempt.id, first.id, choice(first, 1))
        attempts.record_answer(attempt.id, second.id, choice(second, 1))
        attempts.record_answer(attempt.id, third.id, choice(third, 2))
        submitted = attempts.submit_attempt(attempt.id)
    assert submitted.submitted_at is not None
    assert (submitted.correct_count, submitted.question_count) == (2, 3)
    assert submitted.score == pytest.approx(2 / 3)


def test_an_answer_can_change_until_submission_and_unanswered_questions_count_wrong(
    world, unit_test
):
    with DatabaseManager.get_session():
        attempt = attempts.start_attempt(running_session(world).id)
        first = questions(unit_test.id)[0]
        attempts.record_answer(attempt.id, first.id, choice(first, 3))
        attempts.record_answer(attempt.id, first.id, choice(first, 1))
        submitted = attempts.submit_attempt(attempt.id)
        assert [a.choice_id for a in AttemptAnswer.get_by(attempt_id=attempt.id)] == [
            choice(first, 1)
        ]
    assert (submitted.correct_count, submitted.question_count) == (1, 3)


def test_starting_again_resumes_the_open_attempt(world, unit_test):
    with DatabaseManager.get_session():
        session_id = running_session(world).id
        first = attempts.start_attempt(session_id)
        assert attempts.start_attempt(session_id).id == first.id
        assert attempts.attempt_of(session_id) == first
        assert AssessmentAttempt.count() == 1


def test_a_second_submission_is_refused_and_changes_nothing(world, unit_test):
    with DatabaseManager.get_session():
        session_id = running_session(world).id
        attempt = attempts.start_attempt(session_id)
        done = attempts.submit_attempt(attempt.id)
        submitted_at = done.submitted_at
        first = questions(unit_test.id)[0]
        answer = (first.id, choice(first, 1))
    refusals = {
        "submit": lambda: attempts.submit_attempt(attempt.id),
        "answer": lambda: attempts.record_answer(attempt.id, *answer),
        "start": lambda: attempts.start_attempt(session_id),
    }
    for name, refused in refusals.items():
        with pytest.raises(AlreadySubmittedError) as info:
            with DatabaseManager.get_session():
                refused()
        assert "already submitted" in str(info.value), name
        assert "0 of 3" in str(info.value), name
    with DatabaseManager.get_session():
        again = AssessmentAttempt.get(attempt.id)
        assert again.submitted_at == submitted_at and again.correct_count == 0
        assert AttemptAnswer.count() == 0


def test_answers_to_other_tests_questions_or_choices_are_refused(world, unit_test):
    with DatabaseManager.get_session():
        other = make_assessment(world.units[1])
        attempt = attempts.start_attempt(running_session(world).id)
        mine, foreign = questions(unit_test.id)[0], questions(other.id)[0]
        second = questions(unit_test.id)[1]
        cases = [
            (foreign.id, choice(foreign, 1), "is not a question of the test"),
            (mine.id, choice(second, 1), "is not one of the choices of question 1"),
            (mine.id, choice(foreign, 1), "is not one of the choices of question 1"),
            (999_999, choice(mine, 1), "is not a question of the test"),
            (mine.id, 999_999, "is not one of the choices of question 1"),
        ]
    for question_id, choice_id, says in cases:
        with pytest.raises(InvalidArgumentError, match=says):
            with DatabaseManager.get_session():
                attempts.record_answer(attempt.id, question_id, choice_id)
    with DatabaseManager.get_session():
        assert AttemptAnswer.count() == 0


def test_the_study_session_must_be_running(world, unit_test):
    with DatabaseManager.get_session():
        session_id = running_session(world).id
        attempt = attempts.start_attempt(session_id)
        first = questions(unit_test.id)[0]
        answer = (first.id, choice(first, 1))
        lifecycle.end(session_id)
    for action in (
        lambda: attempts.start_attempt(session_id),
        lambda: attempts.record_answer(attempt.id, *answer),
        lambda: attempts.submit_attempt(attempt.id),
    ):
        with pytest.raises(InvalidTransitionError, match="it is completed"):
            with DatabaseManager.get_session():
                action()
    with DatabaseManager.get_session():
        assert AssessmentAttempt.get(attempt.id).submitted_at is None


def test_a_unit_without_a_test_and_unknown_ids_say_so(world, unit_test):
    with DatabaseManager.get_session():
        session_id = running_session(world, unit=2).id
    with pytest.raises(NotFoundError, match="'Unit 3' has no test yet"):
        with DatabaseManager.get_session():
            attempts.start_attempt(session_id)
    for action in (
        lambda: attempts.start_attempt(999_999),
        lambda: attempts.record_answer(999_999, 1, 1),
        lambda: attempts.submit_attempt(999_999),
    ):
        with pytest.raises(NotFoundError, match="has id 999999"):
            with DatabaseManager.get_session():
                action()


def test_submission_counts_only_the_tests_questions(world, unit_test):
    with DatabaseManager.get_session():
        attempt = attempts.start_attempt(running_session(world).id)
        first = questions(unit_test.id)[0]
        attempts.record_answer(attempt.id, first.id, choice(first, 1))
        # A question added to the test before submission counts; its choices do not matter.
        late = AssessmentQuestion.create(assessment_id=unit_test.id, position=4, prompt="Late?")
        AssessmentChoice.create(question=late, position=1, text="Yes", is_correct=True)
        submitted = attempts.submit_attempt(attempt.id)
    assert (submitted.correct_count, submitted.question_count) == (1, 4)
