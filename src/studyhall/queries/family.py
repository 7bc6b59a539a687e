"""A parent's page in a constant number of statements, however many children it shows.

`courses_by_student` and `recent_sessions_by_student` each answer for every child at
once: one SELECT of the active enrollments' courses, and one SELECT of each child's
newest few sessions (a UNION ALL of one LIMITed read of the index per child, so the cost
follows what the page shows, not the sessions behind it). Requires an active session.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, union_all

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
    # One small SELECT per child, glued with UNION ALL: each reads its child's newest
    # rows off the (student_id, created_at DESC, id DESC) index and stops after
    # `per_student`. Each is wrapped in a derived table because SQLite allows no
    # ORDER BY / LIMIT on a member of a compound SELECT.
    members = []
    for student_id in dict.fromkeys(student_ids):
        newest = (
            select(StudySession.id)
            .where(StudySession.student_id == student_id)
            .order_by(*newest_first)
            .limit(per_student)
            .subquery()
        )
        members.append(select(newest.c.id))
    recent = union_all(*members).subquery()
    query = (
        select(StudySession).join(recent, recent.c.id == StudySession.id).order_by(*newest_first)
    )
    for study_session in get_current_session().scalars(query):
        found[study_session.student_id].append(study_session)
    return found


__all__ = ["courses_by_student", "recent_sessions_by_student"]
