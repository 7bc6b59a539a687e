"""The manager's page: counts of their school's classes, students, courses and sessions."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from studyhall.app.auth import current_user, role_required
from studyhall.database import get_current_session, with_db_session
from studyhall.models import (
    Course,
    Enrollment,
    EnrollmentStatus,
    LearningUnit,
    Manager,
    School,
    SchoolClass,
    SessionStatus,
    Student,
    StudySession,
    UserRole,
)

bp = Blueprint("school", __name__)


def school_counts(school_id: int) -> dict[str, int]:
    """Counts of one school's rows, in a few aggregate queries. Requires an active session."""
    session = get_current_session()
    class_ids = select(SchoolClass.id).where(SchoolClass.school_id == school_id)
    course_ids = select(Course.id).where(Course.school_id == school_id)
    counts = {
        "classes": SchoolClass.count(school_id=school_id),
        "courses": Course.count(school_id=school_id),
        "students": session.scalar(
            select(func.count())
            .select_from(Student)
            .where(Student.role == UserRole.STUDENT, Student.school_class_id.in_(class_ids))
        )
        or 0,
        "active enrollments": session.scalar(
            select(func.count())
            .select_from(Enrollment)
            .where(
                Enrollment.course_id.in_(course_ids),
                Enrollment.status == EnrollmentStatus.ACTIVE,
            )
        )
        or 0,
    }
    by_status = session.execute(
        select(StudySession.status, func.count())
        .join(LearningUnit, LearningUnit.id == StudySession.learning_unit_id)
        .where(LearningUnit.course_id.in_(course_ids))
        .group_by(StudySession.status)
    )
    found = {status: number for status, number in by_status}
    for status in SessionStatus:
        counts[f"{status.value} study sessions"] = found.get(status, 0)
    return counts


@bp.get("/school")
@role_required(UserRole.MANAGER)
@with_db_session
def overview() -> str:
    manager = current_user(Manager)
    school = School.get(manager.managed_school_id) if manager.managed_school_id else None
    counts = school_counts(school.id) if school is not None else {}
    return render_template("school.html", school=school, counts=counts)


__all__ = [
    "bp",
    "overview",
    "school_counts",
]
