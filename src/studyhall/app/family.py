"""The parent's page: each child's courses and recent study sessions."""

from __future__ import annotations

from flask import Blueprint, render_template

from studyhall.app.auth import current_user, role_required
from studyhall.app.student import session_details, subject_names
from studyhall.database import with_db_session
from studyhall.models import Parent, UserRole
from studyhall.queries import courses_by_student, recent_sessions_by_student

bp = Blueprint("family", __name__)

RECENT_SESSIONS = 5


# The unit of work outside the role check: the login check runs on its connection. The
# page only reads (activity is recorded after it, in a unit of its own): with read
# replicas it is served by one, after the user's own last write (read-your-writes).
@bp.get("/family")
@with_db_session(read_only=True)
@role_required(UserRole.PARENT)
def overview() -> str:
    children = current_user(Parent).get_children()
    ids = [child.id for child in children]
    # One statement each for all the children: the page costs the same for one or ten.
    child_courses = courses_by_student(ids)
    sessions = recent_sessions_by_student(ids, RECENT_SESSIONS)
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
