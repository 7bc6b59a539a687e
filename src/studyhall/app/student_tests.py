"""The student's test of a unit, taken from a running study session, and its result.

    POST /study_sessions/<id>/test          start (or resume) the attempt
    GET  /study_sessions/<id>/test          the questions, or the result once submitted
    POST /study_sessions/<id>/test/submit   record the answers and submit, in one unit

A form field `question-<question id>` holds the id of the chosen choice. The answers and
the submission are one unit of work: a refused answer leaves nothing recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from studyhall.app.access import MAX_ID, own_study_session
from studyhall.app.auth import current_user
from studyhall.app.student import student_only
from studyhall.database import with_db_session
from studyhall.models import SessionStatus, Student
from studyhall.services import assessment_attempts
from studyhall.services.errors import InvalidArgumentError, ServiceError

bp = Blueprint("student_tests", __name__)

ANSWER_FIELD = re.compile(r"question-([0-9]{1,10})")
CHOICE_VALUE = re.compile(r"[0-9]{1,10}")


@bp.post("/study_sessions/<id:session_id>/test")
@student_only
def start(session_id: int) -> Response:
    try:
        _start(session_id)
    except ServiceError as error:
        flash(str(error), "error")
        return redirect(url_for("student.study_session", session_id=session_id))
    return redirect(url_for(".take", session_id=session_id))


@with_db_session
def _start(session_id: int) -> None:
    own_study_session(current_user(Student), session_id)
    assessment_attempts.start_attempt(session_id)


@bp.get("/study_sessions/<id:session_id>/test")
@with_db_session
@student_only
def take(session_id: int) -> str | Response:
    found = own_study_session(current_user(Student), session_id)
    attempt = assessment_attempts.attempt_of(found.id)
    if attempt is None:
        return redirect(url_for("student.study_session", session_id=session_id))
    unit = found.learning_unit
    chosen = {answer.question_id: answer.choice_id for answer in attempt.answers}
    questions = assessment_attempts.questions_of(attempt.assessment_id)
    return render_template(
        "test.html",
        study_session=found,
        unit=unit,
        course=unit.course,
        assessment=attempt.assessment,
        attempt=attempt,
        questions=questions,
        chosen=chosen,
        answerable=attempt.submitted_at is None and found.status == SessionStatus.ACTIVE,
    )


@bp.post("/study_sessions/<id:session_id>/test/submit")
@student_only
def submit(session_id: int) -> Response:
    try:
        _submit(session_id)
    except ServiceError as error:
        flash(str(error), "error")
    return redirect(url_for(".take", session_id=session_id))


@with_db_session
def _submit(session_id: int) -> None:
    own_study_session(current_user(Student), session_id)
    attempt = assessment_attempts.attempt_of(session_id)
    if attempt is None:
        attempt = assessment_attempts.start_attempt(session_id)
    for question_id, choice_id in _answers():
        assessment_attempts.record_answer(attempt.id, question_id, choice_id)
    assessment_attempts.submit_attempt(attempt.id)


def _answers() -> Iterator[tuple[int, int]]:
    """(question id, choice id) of each answer in the form, in the form's order."""
    for field, value in request.form.items():
        match = ANSWER_FIELD.fullmatch(field)
        if match is None:
            continue
        # An id beyond any row's (MAX_ID) would fail in the database instead of being refused.
        question_id = int(match[1])
        if question_id > MAX_ID:
            raise InvalidArgumentError(
                f"Question {question_id} is not a question of this test; answer the questions "
                "shown with it."
            )
        if CHOICE_VALUE.fullmatch(value) is None or int(value) > MAX_ID:
            raise InvalidArgumentError(
                f"The answer to question {question_id} is not a choice; pick one of its choices."
            )
        yield question_id, int(value)


__all__ = [
    "ANSWER_FIELD",
    "CHOICE_VALUE",
    "bp",
    "start",
    "submit",
    "take",
]
