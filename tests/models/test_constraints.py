"""Constraints live in the database: a violation raises and leaves every table unchanged.

Rows are written with the model helpers or raw SQL, bypassing the services' checks, so
each case proves that the database itself refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from studyhall.database import DatabaseManager, get_current_session
from studyhall.models import (
    Base,
    Course,
    Enrollment,
    Evaluation,
    HomeHoursStudySession,
    LearningUnit,
    SchoolClass,
    SessionStatus,
    Student,
    StudyMessage,
    StudySession,
)
from tests.models.factories import World, make_student, make_world

# MariaDB reports a failed CHECK as error 4025, which PyMySQL raises as OperationalError.
MARIADB_CHECK_FAILED = 4025


def is_constraint_violation(error: BaseException) -> bool:
    if isinstance(error, IntegrityError):
        return True
    code = getattr(getattr(error, "orig", None), "args", (None,))[0]
    return isinstance(error, DBAPIError) and code == MARIADB_CHECK_FAILED


def dump() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    session = get_current_session()
    return {
        table.name: [
            tuple(row)
            for row in session.execute(select(table).order_by(*table.primary_key.columns))
        ]
        for table in Base.metadata.sorted_tables
    }


def session_row(world: World, status: SessionStatus, unit: int = 0) -> HomeHoursStudySession:
    student = world.students[0]
    return HomeHoursStudySession.create(
        student=student,
        learning_unit=world.units[unit],
        teacher_agent=world.teacher,
        status=status,
        active_student_id=student.id if status == SessionStatus.ACTIVE else None,
    )


def evaluation(world: World, study_session: StudySession, score: int) -> Evaluation:
    return Evaluation.create(
        study_session=study_session, evaluator_agent=world.evaluator, score=score, feedback="fine"
    )


@pytest.fixture
def world(db_session) -> World:
    """The factory world plus a completed, evaluated session and an active one."""
    with DatabaseManager.get_session():
        world = make_world(students=2)
        evaluation(world, session_row(world, SessionStatus.COMPLETED), 70)
        session_row(world, SessionStatus.COMPLETED, unit=1)
        session_row(world, SessionStatus.ACTIVE, unit=2)
        return world


def sessions(status: SessionStatus) -> list[StudySession]:
    return StudySession.get_by(status=status)


def delete_course(world: World) -> None:
    get_current_session().delete(Course.get(world.course.id))
    get_current_session().flush()


def execute(sql: str) -> Callable[[World], object]:
    return lambda world: get_current_session().execute(text(sql))


VIOLATIONS: dict[str, Callable[[World], object]] = {
    "duplicate e-mail, other case and blanks": lambda w: make_student(0),
    "duplicate enrollment": lambda w: Enrollment.create(
        student_id=w.students[0].id, course_id=w.course.id
    ),
    "duplicate unit position": lambda w: LearningUnit.create(
        course_id=w.course.id, position=2, title="Again"
    ),
    "duplicate class name in a school": lambda w: [
        SchoolClass.create(school=w.school, name="7a", grade_level=7) for _ in range(2)
    ],
    "second evaluation of a session": lambda w: evaluation(
        w, sessions(SessionStatus.COMPLETED)[0], 50
    ),
    "score above 100": lambda w: evaluation(w, sessions(SessionStatus.COMPLETED)[1], 101),
    "score below 0": lambda w: evaluation(w, sessions(SessionStatus.COMPLETED)[1], -1),
    "grade level out of range": lambda w: Course.create(
        school=w.school, subject=w.subject, name="Odd", grade_level=14
    ),
    "unit position 0": lambda w: LearningUnit.create(
        course_id=w.course.id, position=0, title="Zero"
    ),
    "second active session of a student": lambda w: session_row(w, SessionStatus.ACTIVE),
    "active session without the invariant column": execute(
        "UPDATE study_sessions SET status = 'active' WHERE status = 'completed'"
    ),
    "invariant column on a planned session": execute(
        "UPDATE study_sessions SET active_student_id = student_id WHERE status = 'completed'"
    ),
    "unknown enrollment status": execute("UPDATE enrollments SET status = 'paused'"),
    "unknown user role": execute("UPDATE users SET role = 'admin'"),
    "deleting a course with enrollments": delete_course,
    "deleting a student with enrollments": lambda w: get_current_session().execute(
        delete(Student.__table__).where(Student.__table__.c.id == w.students[1].id)
    ),
    "deleting a Teacher agent with sessions": execute(
        "DELETE FROM ai_agents WHERE agent_type = 'teacher'"
    ),
    "enrollment of a missing course": lambda w: Enrollment.create(
        student_id=w.students[0].id, course_id=999999
    ),
}


def assert_refused_and_unchanged(violate: Callable[[], Any]) -> None:
    """`violate()` in a unit of work raises a constraint violation, and no row changed."""
    with DatabaseManager.get_session():
        before = dump()
    with pytest.raises(DBAPIError) as info:
        with DatabaseManager.get_session():
            violate()
    assert is_constraint_violation(info.value), info.value
    with DatabaseManager.get_session():
        assert dump() == before


@pytest.mark.parametrize("violation", list(VIOLATIONS))
def test_violation_raises_and_changes_nothing(world, violation):
    assert_refused_and_unchanged(lambda: VIOLATIONS[violation](world))


def test_on_delete_cascade_and_set_null(world):
    with DatabaseManager.get_session() as session:
        school_class = SchoolClass.create(school=world.school, name="7a", grade_level=7)
        Student.get(world.students[0].id).school_class = school_class
        done = sessions(SessionStatus.COMPLETED)[0]
        StudyMessage.create(study_session=done, role="student", content="hello")
        free_course = Course.create(
            school=world.school, subject=world.subject, name="Free", grade_level=7
        )
        LearningUnit.create(course=free_course, position=1, title="Only")
        session.flush()
        # Raw SQL: the database acts, not the ORM cascades.
        session.execute(delete(SchoolClass.__table__))
        session.execute(delete(Course.__table__).where(Course.__table__.c.id == free_course.id))
        session.execute(
            delete(StudySession.__table__).where(StudySession.__table__.c.id == done.id)
        )
    with DatabaseManager.get_session():
        assert Student.get(world.students[0].id).school_class_id is None  # SET NULL
        assert LearningUnit.count(course_id=free_course.id) == 0  # CASCADE
        assert StudyMessage.count(study_session_id=done.id) == 0  # CASCADE
        assert Evaluation.count(study_session_id=done.id) == 0  # CASCADE
        assert Student.count() == 2


def test_updates_bypassing_the_model_still_meet_the_checks(world):
    # The active row's invariant column must follow student_id: the CHECK sees to it.
    with pytest.raises(DBAPIError) as info:
        with DatabaseManager.get_session() as session:
            session.execute(
                update(StudySession.__table__)
                .where(StudySession.__table__.c.status == "active")
                .values(active_student_id=world.students[1].id)
            )
    assert is_constraint_violation(info.value)
