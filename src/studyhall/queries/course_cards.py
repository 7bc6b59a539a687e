"""Read-only rows for pages that list many students with their active courses.

One SELECT (students LEFT JOIN active enrollments JOIN courses) turned into plain named
tuples: no ORM identity map, no change tracking, so a page of hundreds of students costs
about what the hand-written JOIN costs (see benchmarks/my_courses.py). Use
`Student.list_with_courses()` instead when the page needs the ORM objects themselves.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, select

from studyhall.db.transaction import get_current_session
from studyhall.models.course import Course, Subject
from studyhall.models.enrollment import Enrollment, EnrollmentStatus
from studyhall.models.user import Student, UserRole


class CourseSummary(NamedTuple):
    id: int
    name: str
    grade_level: int


class CourseCard(NamedTuple):
    """A course as a "my courses" page shows it."""

    id: int
    name: str
    grade_level: int
    description: str | None
    subject_id: int
    subject_name: str


class StudentCourses(NamedTuple):
    student_id: int
    first_name: str
    last_name: str
    courses: list[CourseSummary]


@cache
def _base_query() -> Select[tuple[int, str, str, int | None, str | None, int | None]]:
    # Built once: statements are immutable, and building this join costs about as much
    # as the rows it returns.
    users, enrollments, courses = Student.__table__, Enrollment.__table__, Course.__table__
    return (
        select(
            users.c.id,
            users.c.first_name,
            users.c.last_name,
            courses.c.id,
            courses.c.name,
            courses.c.grade_level,
        )
        .select_from(users)
        .outerjoin(
            enrollments,
            and_(
                enrollments.c.student_id == users.c.id,
                enrollments.c.status == EnrollmentStatus.ACTIVE.value,
            ),
        )
        .outerjoin(courses, courses.c.id == enrollments.c.course_id)
        .where(users.c.role == UserRole.STUDENT.value)
        .order_by(users.c.id, courses.c.name, courses.c.id)
    )


def student_courses(**filters: Any) -> list[StudentCourses]:
    """Students matching `filters` (as in `get_by`), by id, each with its active courses
    ordered by name; students without one get an empty list. One SELECT.

    Requires an active session.
    """
    query = _base_query()
    if filters:
        query = query.where(*Student.filter_criteria(filters))
    result: list[StudentCourses] = []
    current_id: int | None = None
    current: list[CourseSummary] = []
    rows = get_current_session().execute(query)
    # A hot loop over every row: locals only, one tuple per course.
    for student_id, first_name, last_name, course_id, name, grade_level in rows:
        if student_id != current_id:
            current_id, current = student_id, []
            result.append(StudentCourses(student_id, first_name, last_name, current))
        if course_id is not None:
            current.append(CourseSummary(course_id, name, grade_level))
    return result


@cache
def _cards_query() -> Select[tuple[int, str, int, str | None, int, str]]:
    users, enrollments = Student.__table__, Enrollment.__table__
    courses, subjects = Course.__table__, Subject.__table__
    return (
        select(
            courses.c.id,
            courses.c.name,
            courses.c.grade_level,
            courses.c.description,
            courses.c.subject_id,
            subjects.c.name,
        )
        .select_from(enrollments)
        .join(users, users.c.id == enrollments.c.student_id)
        .join(courses, courses.c.id == enrollments.c.course_id)
        .join(subjects, subjects.c.id == courses.c.subject_id)
        .where(
            users.c.id == bindparam("student_id"),
            users.c.role == UserRole.STUDENT.value,
            # A deactivated account sees nothing, as get_courses() would show it.
            users.c.is_active.is_(True),
            enrollments.c.status == EnrollmentStatus.ACTIVE.value,
        )
        .order_by(courses.c.name, courses.c.id)
    )


def course_cards(student_id: int) -> list[CourseCard]:
    """An active student's active courses with their subject names, ordered by name, as
    read-only rows in one SELECT. Requires an active session."""
    rows = get_current_session().execute(_cards_query(), {"student_id": student_id})
    return [CourseCard(*row) for row in rows]


__all__ = [
    "CourseCard",
    "CourseSummary",
    "StudentCourses",
    "course_cards",
    "student_courses",
]
