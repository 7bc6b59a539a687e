"""The student's pages: courses, a course's units, study sessions and their history."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from studyhall.app.access import enrolled_course, enrolled_unit, own_study_session
from studyhall.app.auth import (
    claimed_session,
    confirm_signed_in,
    current_user,
    role_required,
    signed_in,
)
from studyhall.database import with_db_session
from studyhall.models import (
    Course,
    Evaluation,
    LearningUnit,
    MessageRole,
    SessionStatus,
    Student,
    StudyMessage,
    StudySession,
    Subject,
    UserRole,
)
from studyhall.queries import CourseCard, course_cards, session_course_cards
from studyhall.services import assessment_attempts
from studyhall.services.errors import ServiceError
from studyhall.services.study_session import lifecycle

# Finished sessions per page of /history.
HISTORY_PAGE = 20
# Messages per page of a study session: the newest ones, older ones a page back.
MESSAGE_PAGE = 50

bp = Blueprint("student", __name__)
# Pages put `@with_db_session` outside `@student_only`, so that the login check's SELECT
# runs in the page's unit of work, on its connection (one checkout per request).
student_only = role_required(UserRole.STUDENT)

FINISHED = (SessionStatus.COMPLETED, SessionStatus.CANCELLED)
CANCELLABLE = (SessionStatus.PLANNED, SessionStatus.ACTIVE)


def subject_names(courses: Iterable[Course]) -> dict[int, str]:
    """Subject id -> name for `courses`, in one query whatever their number."""
    ids = sorted({course.subject_id for course in courses})
    return {subject.id: subject.name for subject in Subject.get_by(id=ids)} if ids else {}


# The busiest page's query, built once: one round trip for the login session, the courses
# and their subjects (instead of the session, the user, the courses and the subjects), and
# no per-request cost of building the statement and its cache key. A separate session
# check was a second round trip: 15% of the page's throughput (benchmarks/web.py).
@bp.get("/my_courses")
@with_db_session
def my_courses() -> str | Response:
    claimed = claimed_session()
    if claimed is not None and claimed.user.role == UserRole.STUDENT:
        found = session_course_cards(claimed.token, claimed.user.user_id)
        if found is not None:
            confirm_signed_in(claimed, found.last_seen_at)
            return _my_courses_page(found.cards)
    # No row: no live session, another role, no active course, or REVOCABLE_SESSIONS
    # off. The general path checks apart, and signs out, redirects or refuses as every
    # other page does (two or three statements, for a student without courses).
    return _checked_my_courses()


@student_only
def _checked_my_courses() -> str:
    user = signed_in()
    assert user is not None  # student_only
    courses = course_cards(user.user_id)
    if not courses:
        current_user(Student)  # signs out an account deactivated since it signed in
    return _my_courses_page(courses)


def _my_courses_page(courses: list[CourseCard]) -> str:
    subjects = {course.subject_id: course.subject_name for course in courses}
    return render_template("my_courses.html", courses=courses, subjects=subjects)


@bp.get("/courses/<id:course_id>")
@with_db_session
@student_only
def course(course_id: int) -> str:
    student = current_user(Student)
    found = enrolled_course(student, course_id)
    active = student.get_study_sessions(status=SessionStatus.ACTIVE)
    running = active[0] if active else None
    # While a session runs, every Start button leads to it instead: a second start
    # would only be refused.
    return render_template(
        "course.html",
        course=found,
        subject=Subject.get(found.subject_id),
        units=found.get_units(),
        active=running,
        active_unit=running.learning_unit if running else None,
        active_course=running.learning_unit.course if running else None,
    )


@bp.post("/courses/<id:course_id>/units/<id:unit_id>/study_sessions")
@student_only
def start_study_session(course_id: int, unit_id: int) -> Response:
    try:
        session_id = _start(course_id, unit_id)
    except ServiceError as error:
        flash(str(error), "error")
        return redirect(url_for(".course", course_id=course_id))
    return redirect(url_for(".study_session", session_id=session_id))


@with_db_session
def _start(course_id: int, unit_id: int) -> int:
    """Plan and start a session in one unit of work: a failed start leaves no plan behind."""
    student = current_user(Student)
    unit = enrolled_unit(student, unit_id)
    if unit.course_id != course_id:
        abort(404)
    planned = lifecycle.create_home_study_session(student.id, unit.id)
    return lifecycle.start(planned.id).id


@bp.get("/study_sessions/<id:session_id>")
@with_db_session
@student_only
def study_session(session_id: int) -> str:
    found = own_study_session(current_user(Student), session_id)
    unit = found.learning_unit
    # The newest messages in keyset pages read newest first (never the whole `messages`
    # relationship), shown oldest first as a conversation reads. A hand-edited cursor is a
    # 400; a cursor of another session only positions this session's messages.
    before = request.args.get("before") or None
    page = StudyMessage.keyset_page(
        after=before, per_page=MESSAGE_PAGE, order_by=["-id"], study_session_id=found.id
    )
    return render_template(
        "study_session.html",
        study_session=found,
        unit=unit,
        course=unit.course,
        messages=list(reversed(page.items)),
        older_cursor=page.next_cursor,
        newest_page=before is None,
        evaluation=found.evaluation,
        **attempt_details(found),
    )


def attempt_details(study_session: StudySession) -> dict[str, Any]:
    """The session's test attempt, and whether its unit has a test to start: at most two
    statements, so that the page can offer, continue or show the test."""
    attempt = assessment_attempts.attempt_of(study_session.id)
    startable = (
        attempt is None
        and study_session.status == SessionStatus.ACTIVE
        and assessment_attempts.unit_test(study_session.learning_unit_id) is not None
    )
    return {"attempt": attempt, "test_startable": startable}


def _session_action(
    verb: str,
    action: Callable[[int], object],
    done: Callable[[StudySession, LearningUnit], str] | None = None,
) -> Callable[[int], Response]:
    """A POST view that runs `action` on one of the student's own sessions; `done` says
    what was done, shown once the unit of work committed."""

    @with_db_session
    def run(session_id: int) -> str | None:
        own_study_session(current_user(Student), session_id)
        result = action(session_id)
        if done is None or not isinstance(result, StudySession):
            return None
        return done(result, result.learning_unit)

    def view(session_id: int) -> Response:
        try:
            message = run(session_id)
        except ServiceError as error:
            flash(str(error), "error")
        else:
            if message:
                flash(message, "success")
        return redirect(url_for(".study_session", session_id=session_id))

    view.__name__ = f"{verb}_study_session"
    return student_only(view)


def _send(session_id: int) -> object:
    content = request.form.get("content", "")
    return lifecycle.add_message(session_id, MessageRole.STUDENT, content)


def _ended(study_session: StudySession, unit: LearningUnit) -> str:
    spent = spoken_duration(study_session.duration_seconds or 0)
    return f"Well done: you ended your study session on {unit.title} after {spent}."


def _cancelled(study_session: StudySession, unit: LearningUnit) -> str:
    return f"You cancelled your study session on {unit.title}."


bp.post("/study_sessions/<id:session_id>/messages")(_session_action("message", _send))
bp.post("/study_sessions/<id:session_id>/end")(_session_action("end", lifecycle.end, _ended))
bp.post("/study_sessions/<id:session_id>/cancel")(
    _session_action("cancel", lifecycle.cancel, _cancelled)
)


@bp.get("/study_sessions/<id:session_id>/cancel")
@with_db_session
@student_only
def confirm_cancel(session_id: int) -> str | Response:
    """The confirmation a cancel asks for: a page of its own, so it works without JavaScript."""
    found = own_study_session(current_user(Student), session_id)
    unit = found.learning_unit
    if found.status not in CANCELLABLE:
        flash(
            f"This study session on {unit.title} is {found.status.value}: it can no longer "
            "be cancelled.",
            "error",
        )
        return redirect(url_for(".study_session", session_id=session_id))
    return render_template("cancel.html", study_session=found, unit=unit, course=unit.course)


def spoken_duration(seconds: int) -> str:
    """A duration as a person says it: "less than a minute", "1 hour 2 minutes"."""
    minutes = seconds // 60
    if minutes == 0:
        return "less than a minute"
    hours, minutes = divmod(minutes, 60)
    parts = [(hours, "hour"), (minutes, "minute")]
    return " ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in parts if n)


bp.add_app_template_filter(spoken_duration)


@bp.get("/history")
@with_db_session
@student_only
def history() -> str:
    # Keyset pages, newest first: the cost of a page does not grow with the sessions
    # behind it. A cursor edited by hand is a 400 (see errors.handle_bad_cursor).
    page = StudySession.keyset_page(
        after=request.args.get("after") or None,
        per_page=HISTORY_PAGE,
        order_by=["-created_at"],
        student_id=current_user(Student).id,
        status=FINISHED,
    )
    sessions = list(page.items)
    return render_template(
        "history.html",
        sessions=sessions,
        next_cursor=page.next_cursor,
        first_page=not request.args.get("after"),
        **session_details(sessions),
    )


def session_details(sessions: list[StudySession]) -> dict[str, Any]:
    """Units (with course names) and evaluations of `sessions`, in a constant number of queries."""
    unit_ids = sorted({s.learning_unit_id for s in sessions})
    units = {u.id: u for u in LearningUnit.get_by(id=unit_ids)} if unit_ids else {}
    course_ids = sorted({u.course_id for u in units.values()})
    courses = {c.id: c for c in Course.get_by(id=course_ids)} if course_ids else {}
    session_ids = [s.id for s in sessions]
    evaluations = (
        {e.study_session_id: e for e in Evaluation.get_by(study_session_id=session_ids)}
        if session_ids
        else {}
    )
    return {"units": units, "courses": courses, "evaluations": evaluations}


__all__ = [
    "CANCELLABLE",
    "FINISHED",
    "HISTORY_PAGE",
    "MESSAGE_PAGE",
    "bp",
    "confirm_cancel",
    "course",
    "history",
    "my_courses",
    "session_details",
    "spoken_duration",
    "start_study_session",
    "student_only",
    "study_session",
    "subject_names",
    "attempt_details",
]
