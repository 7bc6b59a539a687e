"""Authorization lookups: a row the signed-in user may see, or a 404.

A row that exists but belongs to someone else is a 404 too, so ids cannot be probed.
Each function requires an active session.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from werkzeug.routing import IntegerConverter

from studyhall.models import (
    Course,
    Enrollment,
    EnrollmentStatus,
    LearningUnit,
    Student,
    StudySession,
)

# Every id column is an INTEGER: a larger id in a URL names nothing, and reaching the
# database with it fails (SQLite cannot bind it, PostgreSQL reports an overflow).
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<id:name>` in a route: a row id from 1 to MAX_ID; anything else does not match (404)."""

    def __init__(self, map: Any) -> None:
        super().__init__(map, min=1, max=MAX_ID)


def enrolled_course(student: Student, course_id: int) -> Course:
    """The course, when `student` is actively enrolled in it."""
    course = Course.get(course_id)
    if course is None or not is_enrolled(student, course_id):
        abort(404)
    return course


def enrolled_unit(student: Student, unit_id: int) -> LearningUnit:
    """The learning unit, when `student` is actively enrolled in its course."""
    unit = LearningUnit.get(unit_id)
    if unit is None or not is_enrolled(student, unit.course_id):
        abort(404)
    return unit


def own_study_session(student: Student, session_id: int) -> StudySession:
    """The study session, when it is `student`'s."""
    study_session = StudySession.get(session_id)
    if study_session is None or study_session.student_id != student.id:
        abort(404)
    return study_session


def is_enrolled(student: Student, course_id: int) -> bool:
    return Enrollment.exists(
        student_id=student.id, course_id=course_id, status=EnrollmentStatus.ACTIVE
    )


__all__ = [
    "IdConverter",
    "MAX_ID",
    "enrolled_course",
    "enrolled_unit",
    "is_enrolled",
    "own_study_session",
]
