"""The parent's page: each child's courses and recent study sessions."""

from __future__ import annotations

from flask import Blueprint, render_template

from studyhall.app.auth import current_user, role_required
from studyhall.app.student import session_details, subject_names
from studyhall.database import with_db_session
from studyhall.models import Parent, UserRole

bp = Blueprint("family", __name__)

RECENT_SESSIONS = 5


@bp.get("/family")
@role_required(UserRole.PARENT)
@with_db_session
def overview() -> str:
    children = current_user(Parent).get_children()
    child_courses = {child.id: child.get_courses() for child in children}
    sessions = {child.id: child.get_study_sessions()[:RECENT_SESSIONS] for child in children}
    every_course = [c for listed in child_courses.values() for c in listed]
    every_session = [s for listed in sessions.values() for s in listed]
    return render_template(
        "family.html",
        children=children,
        child_courses=child_courses,
        sessions=sessions,
        subjects=subject_names(every_course),
        **session_details(every_session),
    )


__all__ = [
    "RECENT_SESSIONS",
    "bp",
    "overview",
]
