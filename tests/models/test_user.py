"""Users: the Student and Parent domain helpers, and their statement counts."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

import pytest

from studyhall.database import DatabaseManager, with_db_session
from studyhall.errors import CrossThreadSessionError, TransactionRolledBackError
from studyhall.models import (
    Course,
    Enrollment,
    EnrollmentStatus,
    HomeHoursStudySession,
    Parent,
    SessionStatus,
    Student,
    StudySession,
)
from studyhall.queries import course_cards, session_course_cards, student_courses
from studyhall.services.user_sessions import start_session
from tests.models.factories import PASSWORD_HASH, World, make_student, make_world


def enroll_in_more(world: World, courses: int) -> list[int]:
    """Give every student of `world` `courses` more courses, named so they sort backwards."""
    extra = [
        Course.create(school=world.school, subject=world.subject, name=f"Z{9 - n}", grade_level=7)
        for n in range(courses)
    ]
    for student in world.students:
        for course in extra:
            Enrollment.create(student=student, course=course)
    return [course.id for course in reversed(extra)]


def test_get_courses_lists_active_enrollments_by_name(db_session):
    with DatabaseManager.get_session():
        world = make_world(students=1)
        extra = enroll_in_more(world, 2)
        dropped = Course.create(
            school=world.school, subject=world.subject, name="A", grade_level=7
        )
        Enrollment.create(
            student=world.students[0], course=dropped, status=EnrollmentStatus.DROPPED
        )
        courses = world.students[0].get_courses()
        assert [c.id for c in courses] == [world.course.id, *extra]


def test_course_cards_match_get_courses_in_one_select(db_session, db_statements):
    with DatabaseManager.get_session() as session:
        world = make_world(students=2)
        extra = enroll_in_more(world, 3)
        student, other = world.students
        Enrollment.get_by(
            student_id=other.id, course_id=extra[0], first=True
        ).status = EnrollmentStatus.DROPPED
        session.flush()
        with db_statements(1):
            cards = course_cards(student.id)
        assert [c.id for c in cards] == [c.id for c in student.get_courses()]
        assert {c.subject_name for c in cards} == {world.subject.name}
        assert extra[0] not in [c.id for c in course_cards(other.id)]
        student.is_active = False
        session.flush()
        assert course_cards(student.id) == []


def test_session_course_cards_run_in_the_unit_and_under_its_guards(db_session):
    """The page's read goes to the unit's connection (not through Session.execute): it
    still sees the unit's own uncommitted rows, and is refused from another thread and in
    a unit marked rollback-only, as every statement of a session is."""
    owner = DatabaseManager.get_session()
    with pytest.raises(TransactionRolledBackError, match="inner call"), owner as session:
        world = make_world(students=1)
        student = world.students[0]
        token = start_session(student.id)
        session.flush()
        found = session_course_cards(token, student.id)
        assert found is not None and found.user_id == student.id
        assert [card.id for card in found.cards] == [world.course.id]
        assert session_course_cards(token, student.id + 1) is None

        elsewhere = contextvars.copy_context()
        with ThreadPoolExecutor(1) as pool:
            for read in (lambda: course_cards(student.id), lambda: session_course_cards(token, 1)):
                with pytest.raises(CrossThreadSessionError):
                    pool.submit(elsewhere.run, read).result()

        @with_db_session
        def fails() -> None:
            raise RuntimeError("inner call")

        with pytest.raises(RuntimeError):
            fails()
        for read in (lambda: course_cards(student.id), lambda: session_course_cards(token, 1)):
            with pytest.raises(TransactionRolledBackError):
                read()


@pytest.mark.parametrize("students", [2, 9])
def test_list_with_courses_costs_two_selects_for_any_number(db_session, db_statements, students):
    with DatabaseManager.get_session():
        world = make_world(students=students)
        extra = enroll_in_more(world, 2)
    with DatabaseManager.get_session(), db_statements(2):
        listed = Student.list_with_courses()
        pages = [(s.email, [c.id for c in s.courses]) for s in listed]
    assert pages == [
        (f"student{n}@example.org", [world.course.id, *extra]) for n in range(students)
    ]


@pytest.mark.parametrize("students", [2, 9])
def test_courses_overview_costs_one_select_for_any_number(db_session, db_statements, students):
    with DatabaseManager.get_session():
        world = make_world(students=students)
        extra = enroll_in_more(world, 2)
        idle = make_student(99).id
    with DatabaseManager.get_session(), db_statements(2):  # one per call
        rows = student_courses()
        only_idle = student_courses(id=idle)
    expected = [world.course.id, *extra]
    assert [(r.student_id, [c.id for c in r.courses]) for r in rows] == [
        *((s.id, expected) for s in world.students),
        (idle, []),
    ]
    assert rows[0].courses[0].name == "Algebra 1"
    assert only_idle == [(idle, "Student99", "Test", [])]


def test_get_study_sessions_newest_first_by_status(db_session):
    with DatabaseManager.get_session():
        world = make_world(students=1)
        student = world.students[0]
        made = [
            HomeHoursStudySession.create(
                student=student,
                learning_unit=world.units[n],
                teacher_agent=world.teacher,
                status=status,
                active_student_id=student.id if status == "active" else None,
            ).id
            for n, status in enumerate([SessionStatus.PLANNED, SessionStatus.CANCELLED])
        ]
        assert [s.id for s in student.get_study_sessions()] == made[::-1]
        assert [s.id for s in student.get_study_sessions(SessionStatus.PLANNED)] == made[:1]
        both = student.get_study_sessions([SessionStatus.PLANNED, SessionStatus.CANCELLED])
        assert len(both) == 2
        assert student.get_study_sessions(SessionStatus.ACTIVE) == []
    with DatabaseManager.get_session():
        # Loaded afresh through the base class, each row comes back as its kind.
        loaded = StudySession.get_by(id=made)
        assert [type(s) for s in loaded] == [HomeHoursStudySession] * 2


def test_parent_children_both_ways(db_session):
    with DatabaseManager.get_session():
        world = make_world(students=3)
        parent = Parent.create(
            email="p@example.org", password_hash=PASSWORD_HASH, first_name="P", last_name="Q"
        )
        parent.children.extend([world.students[2], world.students[0]])
    with DatabaseManager.get_session():
        parent = Parent.get_by_email("P@example.org")
        assert isinstance(parent, Parent)
        assert [c.id for c in parent.get_children()] == [
            world.students[0].id,
            world.students[2].id,
        ]
        assert [p.id for p in Student.get(world.students[2].id).parents] == [parent.id]
        assert Student.get(world.students[1].id).parents == []


def test_get_units_in_position_order(db_session):
    with DatabaseManager.get_session():
        world = make_world(students=0)
        world.units[0].position = 10
    with DatabaseManager.get_session():
        units = Course.get(world.course.id).get_units()
        assert [u.position for u in units] == [2, 3, 10]
