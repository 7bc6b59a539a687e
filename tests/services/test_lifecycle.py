"""The study-session lifecycle, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from studyhall.database import DatabaseManager
from studyhall.models import (
    AgentType,
    AIAgent,
    Enrollment,
    EnrollmentStatus,
    Evaluation,
    LearningUnit,
    MessageRole,
    SessionStatus,
    StudyMessage,
    StudySession,
)
from studyhall.services.errors import (
    ActiveSessionExistsError,
    AlreadyEvaluatedError,
    InvalidArgumentError,
    InvalidTransitionError,
    NotEnrolledError,
    NotFoundError,
)
from studyhall.services.study_session import lifecycle
from tests.models.factories import World, make_student


def plan(world: World, student: int = 0, unit: int = 0) -> int:
    planned = lifecycle.create_home_study_session(world.students[student].id, world.units[unit].id)
    return planned.id


def reach(world: World, path: tuple[str, ...]) -> int:
    """A new session of student 0 taken through the operations of `path`, committed."""
    session_id = plan(world)
    for step in path:
        getattr(lifecycle, step)(session_id)
    return session_id


def snapshot(session_id: int) -> tuple[Any, ...]:
    with DatabaseManager.get_session():
        row = StudySession.get(session_id)
        assert row is not None
        return (
            row.status,
            row.active_student_id,
            row.started_at,
            row.ended_at,
            StudyMessage.count(study_session_id=session_id),
            Evaluation.count(study_session_id=session_id),
        )


OPERATIONS: dict[str, Callable[[World, int], object]] = {
    "start": lambda w, sid: lifecycle.start(sid),
    "end": lambda w, sid: lifecycle.end(sid),
    "cancel": lambda w, sid: lifecycle.cancel(sid),
    "add_message": lambda w, sid: lifecycle.add_message(sid, MessageRole.STUDENT, "Hi"),
    "evaluate": lambda w, sid: lifecycle.evaluate_study_session(sid, w.evaluator.id, 80, "Ok"),
}

PLANNED, ACTIVE = (), ("start",)
COMPLETED, CANCELLED = ("start", "end"), ("cancel",)


@pytest.mark.parametrize(
    ("path", "operation", "expected"),
    [
        (PLANNED, "start", SessionStatus.ACTIVE),
        (PLANNED, "cancel", SessionStatus.CANCELLED),
        (ACTIVE, "end", SessionStatus.COMPLETED),
        (ACTIVE, "cancel", SessionStatus.CANCELLED),
        (ACTIVE, "add_message", SessionStatus.ACTIVE),
        (COMPLETED, "evaluate", SessionStatus.COMPLETED),
        (PLANNED, "end", "it is planned, and only active sessions allow that"),
        (PLANNED, "add_message", "Cannot add a message to the study session on 'Unit 1'"),
        (PLANNED, "evaluate", "Cannot evaluate the study session on 'Unit 1': it is planned"),
        (ACTIVE, "start", "Cannot start the study session on 'Unit 1': it is active"),
        (ACTIVE, "evaluate", "it is active, and only completed sessions"),
        (COMPLETED, "start", "it is completed, and only planned sessions"),
        (COMPLETED, "end", "it is completed"),
        (COMPLETED, "cancel", "it is completed, and only planned or active sessions allow that"),
        (COMPLETED, "add_message", "it is completed"),
        (CANCELLED, "start", "it is cancelled"),
        (CANCELLED, "end", "it is cancelled"),
        (CANCELLED, "cancel", "it is cancelled"),
        (CANCELLED, "evaluate", "it is cancelled, and only completed sessions"),
    ],
)
def test_transitions(world, path, operation, expected):
    session_id = reach(world, path)
    before = snapshot(session_id)
    if isinstance(expected, SessionStatus):
        OPERATIONS[operation](world, session_id)
        assert snapshot(session_id)[0] == expected
        return
    with pytest.raises(InvalidTransitionError, match=expected.replace("(", r"\(")):
        OPERATIONS[operation](world, session_id)
    assert snapshot(session_id) == before


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_unknown_session_is_not_found(world, operation):
    with pytest.raises(NotFoundError, match="No study session has id 999999"):
        OPERATIONS[operation](world, 999999)


def test_end_records_times_and_duration(world):
    session_id = reach(world, ACTIVE)
    with DatabaseManager.get_session() as session:
        started = StudySession.get(session_id).started_at
        session.execute(
            update(StudySession)
            .where(StudySession.id == session_id)
            .values(started_at=started - timedelta(seconds=90))
        )
    ended = lifecycle.end(session_id)
    assert ended.status == SessionStatus.COMPLETED
    assert ended.active_student_id is None
    assert 90 <= ended.duration_seconds <= 95
    assert ended.ended_at >= ended.started_at


def test_messages_are_kept_in_order(world):
    session_id = reach(world, ACTIVE)
    lifecycle.add_message(session_id, "student", "  What is x?  ")
    lifecycle.add_message(session_id, MessageRole.TEACHER, "Let us see.")
    with DatabaseManager.get_session():
        messages = StudySession.get(session_id).messages
        assert [(m.role, m.content) for m in messages] == [
            (MessageRole.STUDENT, "What is x?"),
            (MessageRole.TEACHER, "Let us see."),
        ]
        assert StudySession.get(session_id).updated_at == messages[-1].sent_at


def test_second_active_session_is_refused(world):
    first, second = reach(world, ACTIVE), plan(world, unit=1)
    with pytest.raises(ActiveSessionExistsError) as refused:
        lifecycle.start(second)
    # Named as the student knows it: the running unit and its course, never an id.
    assert str(refused.value) == (
        "Another study session is in progress: 'Unit 1' in Algebra 1. End or cancel it "
        "before starting a new one."
    )
    assert snapshot(first)[0] == SessionStatus.ACTIVE
    assert snapshot(second)[:2] == (SessionStatus.PLANNED, None)
    # Another student is not affected, and ending the first frees the student.
    lifecycle.start(plan(world, student=1))
    lifecycle.end(first)
    assert lifecycle.start(second).status == SessionStatus.ACTIVE


def test_a_session_planned_and_started_in_one_unit_of_work_names_the_running_unit(world):
    # As the web app does it: the refused session was never committed.
    reach(world, ACTIVE)
    with pytest.raises(ActiveSessionExistsError, match="in progress: 'Unit 1' in Algebra 1"):
        with DatabaseManager.get_session():
            lifecycle.start(plan(world, unit=2))


def test_a_title_is_quoted_as_written(world):
    # Not as Python's repr, which would switch to double quotes and escape backslashes.
    with DatabaseManager.get_session() as session:
        unit = LearningUnit.id == world.units[0].id
        session.execute(update(LearningUnit).where(unit).values(title="Pupil's C:\\notes"))
    session_id = reach(world, COMPLETED)
    with pytest.raises(InvalidTransitionError) as refused:
        lifecycle.end(session_id)
    assert str(refused.value).startswith(
        "Cannot end the study session on 'Pupil's C:\\notes': it is completed"
    )


def test_evaluation_is_recorded_once(world):
    session_id = reach(world, COMPLETED)
    evaluation = lifecycle.evaluate_study_session(session_id, world.evaluator.id, 100, " Good ")
    assert (evaluation.score, evaluation.feedback) == (100, "Good")
    with pytest.raises(AlreadyEvaluatedError, match="already evaluated"):
        lifecycle.evaluate_study_session(session_id, world.evaluator.id, 50, "Again")
    with DatabaseManager.get_session():
        assert [e.score for e in Evaluation.get_by(study_session_id=session_id)] == [100]


def evaluate(score: object, feedback: str = "x", agent: str = "evaluator") -> Any:
    return lambda w, s: lifecycle.evaluate_study_session(s, getattr(w, agent).id, score, feedback)


@pytest.mark.parametrize(
    ("path", "call", "error", "message"),
    [
        (
            ACTIVE,
            lambda w, s: lifecycle.add_message(s, "robot", "x"),
            InvalidArgumentError,
            "The role 'robot' is not valid; use one of: student, teacher",
        ),
        (
            ACTIVE,
            lambda w, s: lifecycle.add_message(s, "student", "   "),
            InvalidArgumentError,
            "The message is empty",
        ),
        (
            ACTIVE,
            lambda w, s: lifecycle.add_message(s, "student", "x" * 10_001),
            InvalidArgumentError,
            "The message is too long .10,001 characters.",
        ),
        (COMPLETED, evaluate(101), InvalidArgumentError, "The score 101 is out of range"),
        (COMPLETED, evaluate(-1), InvalidArgumentError, "The score -1 is out of range"),
        (COMPLETED, evaluate(True), InvalidArgumentError, "must be a whole number"),
        (COMPLETED, evaluate("50"), InvalidArgumentError, "must be a whole number"),
        (COMPLETED, evaluate(50, " "), InvalidArgumentError, "The feedback is empty"),
        (
            COMPLETED,
            evaluate(50, agent="teacher"),
            InvalidArgumentError,
            "is not an active Evaluator agent",
        ),
        (
            COMPLETED,
            lambda w, s: lifecycle.evaluate_study_session(s, 999999, 50, "x"),
            NotFoundError,
            "No Evaluator agent has id 999999",
        ),
    ],
)
def test_bad_arguments_change_nothing(world, path, call, error, message):
    session_id = reach(world, path)
    before = snapshot(session_id)
    with pytest.raises(error, match=message):
        call(world, session_id)
    assert snapshot(session_id) == before


def test_create_checks_enrollment_agent_and_ids(world):
    with DatabaseManager.get_session():
        outsider = make_student(99).id
        Enrollment.get_by(
            student_id=world.students[1].id, first=True
        ).status = EnrollmentStatus.DROPPED
    cases: list[tuple[Callable[[], object], type[Exception], str]] = [
        (lambda: plan_for(outsider), NotEnrolledError, "is not actively enrolled in course"),
        (lambda: plan_for(world.students[1].id), NotEnrolledError, "Enroll the student"),
        (lambda: plan_for(999999), NotFoundError, "No student has id 999999"),
        (
            lambda: plan_for(world.students[0].id, unit=999999),
            NotFoundError,
            "No learning unit has id 999999",
        ),
        (
            lambda: plan_for(world.students[0].id, teacher=world.evaluator.id),
            InvalidArgumentError,
            "is not an active Teacher agent",
        ),
    ]

    def plan_for(student: int, unit: int | None = None, teacher: int | None = None) -> object:
        return lifecycle.create_home_study_session(student, unit or world.units[0].id, teacher)

    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    with DatabaseManager.get_session():
        assert StudySession.count() == 0


def test_default_teacher_is_the_first_active_one(world):
    with DatabaseManager.get_session():
        AIAgent.get(world.teacher.id).is_active = False
    with pytest.raises(NotFoundError, match="No active Teacher agent exists"):
        plan(world)
    with DatabaseManager.get_session():
        other = AIAgent.create(
            agent_type=AgentType.TEACHER, name="Bo", model_name="m", system_prompt="Teach."
        ).id
    with DatabaseManager.get_session():
        assert StudySession.get(plan(world)).teacher_agent_id == other


def test_failure_inside_a_larger_unit_of_work_rolls_it_all_back(world):
    first = reach(world, ACTIVE)
    second = plan(world, unit=1)
    with pytest.raises(ActiveSessionExistsError, match="in progress: 'Unit 1' in Algebra 1"):
        with DatabaseManager.get_session():
            lifecycle.add_message(first, "student", "written, then rolled back")
            lifecycle.start(second)
    assert snapshot(first)[4] == 0
