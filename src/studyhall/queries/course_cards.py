"""Read-only rows for pages that list many students with their active courses.

One SELECT (students LEFT JOIN active enrollments JOIN courses) turned into plain named
tuples: no ORM identity map, no change tracking, so a page of hundreds of students costs
about what the hand-written JOIN costs (see benchmarks/my_courses.py). Use
`Student.list_with_courses()` instead when the page needs the ORM objects themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, select

from studyhall.db.transaction import get_current_session
from studyhall.models.course import Course, Subject
from studyhall.models.enrollment import Enrollment, EnrollmentStatus
from studyhall.models.types import utcnow
from studyhall.models.user import Student, UserRole
from studyhall.models.user_session import UserSession, hash_session_token


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


# Built once, at import: statements are immutable, and building a join costs about as
# much as the rows it returns. Their row types are inferred, not spelled out: SQLAlchemy
# 2.0 writes them `Select[tuple[int, str]]` and 2.1 `Select[int, str]`.
_users, _enrollments = Student.__table__, Enrollment.__table__
_courses, _subjects = Course.__table__, Subject.__table__

_STUDENT_COURSES = (
    select(
        _users.c.id,
        _users.c.first_name,
        _users.c.last_name,
        _courses.c.id,
        _courses.c.name,
        _courses.c.grade_level,
    )
    .select_from(_users)
    .outerjoin(
        _enrollments,
        and_(
            _enrollments.c.student_id == _users.c.id,
            _enrollments.c.status == EnrollmentStatus.ACTIVE.value,
        ),
    )
    .outerjoin(_courses, _courses.c.id == _enrollments.c.course_id)
    .where(_users.c.role == UserRole.STUDENT.value)
    .order_by(_users.c.id, _courses.c.name, _courses.c.id)
)


def student_courses(**filters: Any) -> list[StudentCourses]:
    """Students matching `filters` (as in `get_by`), by id, each with its active courses
    ordered by name; students without one get an empty list. One SELECT.

    Requires an active session.
    """
    query = _STUDENT_COURSES
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


_CARD_COLUMNS = (
    _courses.c.id,
    _courses.c.name,
    _courses.c.grade_level,
    _courses.c.description,
    _courses.c.subject_id,
    _subjects.c.name,
)
# An active student's active enrollments, their courses and subjects (`student_id` bound).
_CARD_JOINS = (
    _enrollments.join(_users, _users.c.id == _enrollments.c.student_id)
    .join(_courses, _courses.c.id == _enrollments.c.course_id)
    .join(_subjects, _subjects.c.id == _courses.c.subject_id)
)
_CARD_CRITERIA = (
    _users.c.id == bindparam("student_id"),
    _users.c.role == UserRole.STUDENT.value,
    # A deactivated account sees nothing, as get_courses() would show it.
    _users.c.is_active.is_(True),
    _enrollments.c.status == EnrollmentStatus.ACTIVE.value,
)
_CARD_ORDER = (_courses.c.name, _courses.c.id)

_COURSE_CARDS = (
    select(*_CARD_COLUMNS).select_from(_CARD_JOINS).where(*_CARD_CRITERIA).order_by(*_CARD_ORDER)
)


def course_cards(student_id: int) -> list[CourseCard]:
    """An active student's active courses with their subject names, ordered by name, as
    read-only rows in one SELECT. Requires an active session."""
    rows = _unit_connection().execute(_COURSE_CARDS, {"student_id": student_id})
    return [CourseCard(*row) for row in rows]


def _unit_connection() -> Connection:
    """The active unit of work's connection, in its transaction, for Core statements.

    `Session.execute` of a Core SELECT only finds this connection and executes on it, but
    first builds the ORM's per-execution state (bind arguments, execution options, the
    ORM plugin lookup): 17 Python calls of the 173 that the busiest page's unit of work
    adds to a hand-written Core connection (cProfile call counts, 1147 -> 1130 per unit;
    Core 974). The session's guards still run: `connection()` asks `get_bind()` first,
    which refuses another thread's session and a unit marked rollback-only."""
    return get_current_session().connection()


_sessions = UserSession.metadata.tables[UserSession.__tablename__]


class SessionCourseCards(NamedTuple):
    """A live session's student and their course cards, read together."""

    user_id: int
    last_seen_at: datetime
    cards: list[CourseCard]


# /my_courses with its session check in one round trip: the page's own join (the old
# `course_cards`) with the session joined by primary key. INNER joins as there: a
# student without courses gets no row, and the caller then checks the session apart.
_SESSION_COURSE_CARDS = (
    select(_sessions.c.user_id, _sessions.c.last_seen_at, *_CARD_COLUMNS)
    .select_from(_CARD_JOINS.join(_sessions, _sessions.c.user_id == _users.c.id))
    .where(
        _sessions.c.id == bindparam("session_id"),
        _sessions.c.revoked_at.is_(None),
        _sessions.c.expires_at > bindparam("now"),
        *_CARD_CRITERIA,
    )
    .order_by(*_CARD_ORDER)
)


def session_course_cards(token: str, student_id: int) -> SessionCourseCards | None:
    """`course_cards(student_id)` and the check of the login session with this token, in
    one SELECT. None when the session is not live (revoked, expired, another user's), the
    student is not an active student, or has no active course: the caller then checks the
    session on its own. Requires an active session."""
    rows = _unit_connection().execute(
        _SESSION_COURSE_CARDS,
        {"session_id": hash_session_token(token), "student_id": student_id, "now": utcnow()},
    )
    found: SessionCourseCards | None = None
    for user_id, last_seen_at, *card in rows:
        if found is None:
            found = SessionCourseCards(user_id, last_seen_at, [])
        found.cards.append(CourseCard(*card))
    return found


__all__ = [
    "CourseCard",
    "CourseSummary",
    "SessionCourseCards",
    "StudentCourses",
    "course_cards",
    "session_course_cards",
    "student_courses",
]
