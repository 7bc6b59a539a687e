"""The manager's page: counts of their school's rows, and its students in numbered pages.

The counts read every student, enrollment and session of the school, so their cost grows
with the school: each process keeps them for `STUDYHALL_SCHOOL_COUNTS_TTL` seconds (5 by
default; 0 counts on every request), and the page says when they were counted. A count
may thus lag the data by that long; the roster beside it is always read fresh. Counters
kept in the writers' transactions would be exact, but every session start and end of a
school would then update one row: a hot lock on the busiest writes, for an overview.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, Flask, abort, current_app, render_template, request
from sqlalchemy import func, select

from studyhall.app.auth import current_user, role_required
from studyhall.app.config import AppSettings
from studyhall.app.expiring_cache import ExpiringCache
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
from studyhall.models.pagination import MAX_PER_PAGE

# Students per page of the roster by default; `?per_page=` may ask for up to MAX_PER_PAGE.
ROSTER_PAGE = 25
CACHE_KEY = "studyhall.school_counts"

bp = Blueprint("school", __name__)


@dataclass(frozen=True)
class SchoolCounts:
    """A school's counts and when they were read (UTC)."""

    counts: dict[str, int]
    as_of: datetime


# (the database's URL, password hidden; the school's id) -> its counts.
CountsKey = tuple[str, int]


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


def init_app(app: Flask) -> None:
    """Give `app` its cache of school counts and the page."""
    settings: AppSettings = app.extensions["studyhall"]
    app.extensions[CACHE_KEY] = ExpiringCache[CountsKey, SchoolCounts](
        ttl=settings.school_counts_ttl
    )
    app.register_blueprint(bp)


def counts_cache(app: Flask) -> ExpiringCache[CountsKey, SchoolCounts]:
    cache: ExpiringCache[CountsKey, SchoolCounts] = app.extensions[CACHE_KEY]
    return cache


def clear_school_counts(app: Flask) -> None:
    """Forget `app`'s cached counts: the next /school of each school counts again."""
    counts_cache(app).clear()


def cached_counts(school_id: int) -> SchoolCounts:
    """The school's counts, from this process's cache when fresh. Requires an active session.

    Keyed by database too: a process that switches databases (tests, benchmarks) never
    shows one database's counts for another's school of the same id.
    """
    database = str(get_current_session().get_bind().engine.url)  # str() hides a password
    return counts_cache(current_app).get(
        (database, school_id), lambda: SchoolCounts(school_counts(school_id), datetime.now(UTC))
    )


def page_numbers() -> tuple[int, int]:
    """(page, per_page) from the query string, as Flask-SQLAlchemy reads them: a value that
    is not a number is the default; below 1 is a 404; per_page is capped at MAX_PER_PAGE."""
    page = request.args.get("page", 1, type=int)
    per_page = request.args.get("per_page", ROSTER_PAGE, type=int)
    if page < 1 or per_page < 1:
        abort(404)
    return page, min(per_page, MAX_PER_PAGE)


# The unit of work outside the role check: the login check runs on its connection. A
# read-only unit (activity is recorded after it): with read replicas, one serves it.
@bp.get("/school")
@with_db_session(read_only=True)
@role_required(UserRole.MANAGER)
def overview() -> str:
    manager = current_user(Manager)
    school = School.get(manager.managed_school_id) if manager.managed_school_id else None
    if school is None:
        return render_template("school.html", school=None)
    page, per_page = page_numbers()
    counts = cached_counts(school.id)
    # The cached count bounds the page number before any offset reaches the database; it
    # may lag by the TTL, so one page beyond it is still read.
    known_pages = max(1, math.ceil(counts.counts["students"] / per_page))
    if page > known_pages + 1:
        abort(404)
    classes = {c.id: c.name for c in SchoolClass.get_by(school_id=school.id)}
    students = (
        Student.page(
            page,
            per_page,
            order_by=["school_class_id", "last_name", "first_name"],
            school_class_id=sorted(classes),
        )
        if classes
        else None
    )
    if page > 1 and (students is None or not students.items):
        abort(404)
    # The roster knows its own end exactly; only pages beyond the next come from the count.
    pages = max(known_pages, page + 1) if students is not None and students.has_next else page
    return render_template(
        "school.html",
        school=school,
        counts=counts.counts,
        as_of=counts.as_of,
        ttl=counts_cache(current_app).ttl,
        students=students,
        classes=classes,
        pages=pages,
        default_per_page=ROSTER_PAGE,
    )


__all__ = [
    "CACHE_KEY",
    "CountsKey",
    "ROSTER_PAGE",
    "SchoolCounts",
    "bp",
    "cached_counts",
    "clear_school_counts",
    "counts_cache",
    "init_app",
    "overview",
    "page_numbers",
    "school_counts",
]
