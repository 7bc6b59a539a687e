"""A parent's page in a constant number of statements, however many children it shows.

`courses_by_student` and `recent_sessions_by_student` each answer for every child at
once: one SELECT of the active enrollments' courses, and one SELECT that ranks each
child's sessions with ROW_NUMBER() and keeps the newest few (SQLite 3.25+, MariaDB
10.2+, PostgreSQL all have window functions). Requires an active session.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from studyhall.db.transaction import get_current_session
from studyhall.models import Course, Enrollment, EnrollmentStatus, StudySession


def courses_by_student(student_ids: Sequence[int]) -> dict[int, list[Course]]:
    """Each student's actively enrolled courses, by name (as `Student.get_courses`)."""
    found: dict[int, list[Course]] = {student_id: [] for student_id in student_ids}
    if not student_ids:
        return found
    query = (
        select(Enrollment.student_id, Course)
        .join(Enrollment, Enrollment.course_id == Course.id)
        .where(
            Enrollment.student_id.in_(student_ids),
            Enrollment.status == EnrollmentStatus.ACTIVE,
        )
        .order_by(Course.name, Course.id)
    )
    for student_id, course in get_current_session().execute(query):
        found[student_id].append(course)
    return found


def recent_sessions_by_student(
    student_ids: Sequence[int], per_student: int
) -> dict[int, list[StudySession]]:
    """Each student's `per_student` newest study sessions, newest first."""
    found: dict[int, list[StudySession]] = {student_id: [] for student_id in student_ids}
    if not student_ids or per_student < 1:
        return found
    newest_first = (StudySession.created_at.desc(), StudySession.id.desc())
    ranked = (
        select(
            StudySession.id,
            func.row_number()
            .over(partition_by=StudySession.student_id, order_by=newest_first)
            .label("rank"),
        )
        .where(StudySession.student_id.in_(student_ids))
        .subquery()
    )
    query = (
        select(StudySession)
        .join(ranked, ranked.c.id == StudySession.id)
        .where(ranked.c.rank <= per_student)
        .order_by(*newest_first)
    )
    for study_session in get_current_session().scalars(query):
        found[study_session.student_id].append(study_session)
    return found


__all__ = ["courses_by_student", "recent_sessions_by_student"]
