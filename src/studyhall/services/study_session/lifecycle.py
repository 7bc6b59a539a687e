"""The lifecycle of a home-hours study session, in the current unit of work.

    planned --start--> active --end or close_idle--> completed --evaluate--> (evaluation)
       |                 |
       +----cancel-------+--> cancelled

A session's duration runs from its start to its last activity. While it is active, its
`updated_at` is that: starting it, each message (and the Teacher's reply) and each test
answer write it. Ending or cancelling it is its last activity, unless it was idle past
`config.session_idle_limit()` (2 hours by default): then it was over already and ends
at its last activity, as `close_idle` (the worker's periodic job) ends it.

Every status change is one guarded UPDATE (`... WHERE id = :id AND status IN (...)`):
the database decides between concurrent callers, so no change is ever lost under
MariaDB's REPEATABLE READ, and a change made by someone else in between turns into
InvalidTransitionError instead of being overwritten. The UPDATE is the first statement
of each operation, so on SQLite it takes the write lock before reading anything (a read
first would pin a snapshot that a concurrent writer makes stale: "database is locked").
The one-active-session invariant is the UNIQUE `active_student_id` (see
`studyhall.models.study_session`); its IntegrityError becomes ActiveSessionExistsError.

Messages name a session by its learning unit, as the student knows it, never by id: the
web app shows them as they are.

Each function joins the active unit of work or opens its own (`@with_db_session`); an
error rolls the unit of work back, so nothing is left half-written.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from studyhall.config import session_idle_limit
from studyhall.db.decorators import with_db_session
from studyhall.db.transaction import get_current_session
from studyhall.models import (
    AgentType,
    AIAgent,
    Course,
    Enrollment,
    EnrollmentStatus,
    Evaluation,
    HomeHoursStudySession,
    LearningUnit,
    MessageRole,
    SessionStatus,
    Student,
    StudyMessage,
    StudySession,
)
from studyhall.models.evaluation import MAX_SCORE, MIN_SCORE
from studyhall.models.types import utcnow
from studyhall.services.errors import (
    ActiveSessionExistsError,
    AlreadyEvaluatedError,
    InvalidArgumentError,
    InvalidTransitionError,
    NotEnrolledError,
    NotFoundError,
)
from studyhall.services.guarded_update import guarded_update
from studyhall.services.session_evaluations import request_evaluation
from studyhall.services.teacher_replies import request_reply

M = TypeVar("M")
E = TypeVar("E", bound=StrEnum)

PLANNED, ACTIVE = SessionStatus.PLANNED, SessionStatus.ACTIVE
# Far above any chat turn, and well inside MySQL's TEXT (64 KiB of utf8mb4 bytes).
MAX_MESSAGE_CHARS = 10_000


@with_db_session
def create_home_study_session(
    student_id: int, learning_unit_id: int, teacher_agent_id: int | None = None
) -> HomeHoursStudySession:
    """Plan a home-hours session of a student on a learning unit, with a Teacher agent.

    Without `teacher_agent_id`, the active Teacher agent with the lowest id is used. The
    student must be active and actively enrolled in the unit's course.
    """
    session = get_current_session()
    student = _require(session, Student, student_id, "student")
    if not student.is_active:
        raise InvalidArgumentError(
            f"Student {student_id} is deactivated; reactivate the account before planning "
            "a study session."
        )
    unit = _require(session, LearningUnit, learning_unit_id, "learning unit")
    if not Enrollment.exists(
        student_id=student_id, course_id=unit.course_id, status=EnrollmentStatus.ACTIVE
    ):
        raise NotEnrolledError(
            f"Student {student_id} is not actively enrolled in course {unit.course_id}, "
            f"which learning unit {learning_unit_id} belongs to. Enroll the student first."
        )
    teacher = _agent(session, AgentType.TEACHER, teacher_agent_id)
    return HomeHoursStudySession.create(
        student_id=student_id,
        learning_unit_id=learning_unit_id,
        teacher_agent_id=teacher.id,
        status=PLANNED,
    )


@with_db_session
def start(session_id: int) -> StudySession:
    """Make a planned session active. Raises ActiveSessionExistsError when the student
    already has an active session."""
    try:
        return _activate(session_id)
    except IntegrityError as exc:
        # Only the one-active-session constraint can fail: the other values are fixed.
        if "active_student_id" not in str(exc.orig):
            raise
        raise ActiveSessionExistsError(_already_active(session_id)) from exc


@with_db_session
def add_message(session_id: int, role: MessageRole | str, content: str) -> StudyMessage:
    """Record a message of the student or the Teacher agent in an active session; a
    student's message also enqueues the Teacher's reply (`teacher_replies`)."""
    message_role = _parse(MessageRole, role, "role")
    text = content.strip() if isinstance(content, str) else ""
    if not text:
        raise InvalidArgumentError("The message is empty; send some text.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidArgumentError(
            f"The message is too long ({len(text):,} characters); send at most "
            f"{MAX_MESSAGE_CHARS:,} at a time."
        )
    # The guarded UPDATE also locks the session row, so `end` cannot slip in between.
    now = utcnow()
    _transition(session_id, "add a message to", (ACTIVE,), updated_at=now)
    message = StudyMessage.create(
        study_session_id=session_id, role=message_role, content=text, sent_at=now
    )
    if message_role == MessageRole.STUDENT:
        request_reply(message.id)  # committed with the message, or not at all
    return message


@with_db_session
def end(session_id: int, *, idle_limit: timedelta | None = None) -> StudySession:
    """Complete an active session, recording when it ended and how long it lasted, and
    enqueue its evaluation (`session_evaluations`; committed with the end, or not at all).

    A session idle past `idle_limit` (default: `config.session_idle_limit()`) ends at its
    last activity (see the module docstring).
    """
    ended = _finish(session_id, "end", (ACTIVE,), SessionStatus.COMPLETED, idle_limit)
    request_evaluation(session_id)
    return ended


@with_db_session
def cancel(session_id: int, *, idle_limit: timedelta | None = None) -> StudySession:
    """Cancel a planned or active session; an active one records its duration, as `end`."""
    return _finish(session_id, "cancel", (PLANNED, ACTIVE), SessionStatus.CANCELLED, idle_limit)


@with_db_session
def close_idle(idle_limit: timedelta | None = None, *, batch: int = 500) -> list[int]:
    """Complete the active sessions idle past `idle_limit` (default:
    `config.session_idle_limit()`) at their last activity, enqueueing the evaluation of
    each, as `end` does; the ids of those closed.

    At most `batch` sessions, oldest activity first. Each is closed by an UPDATE guarded
    by the last activity it was read with, so a message that lands meanwhile keeps its
    session running.
    """
    session = get_current_session()
    now = utcnow()
    cutoff = now - (session_idle_limit() if idle_limit is None else idle_limit)
    idle = session.execute(
        select(StudySession.id, StudySession.started_at, StudySession.updated_at)
        .where(StudySession.status == ACTIVE, StudySession.updated_at < cutoff)
        .order_by(StudySession.updated_at, StudySession.id)
        .limit(batch)
    ).all()
    closed: list[int] = []
    for row in idle:
        last = _last_activity(row.started_at, row.updated_at)
        result = session.execute(
            update(StudySession)
            .where(
                StudySession.id == row.id,
                StudySession.status == ACTIVE,
                StudySession.updated_at == row.updated_at,
            )
            .values(
                status=SessionStatus.COMPLETED,
                active_student_id=None,
                ended_at=last,
                duration_seconds=_seconds(row.started_at, last),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined, unused-ignore]
            request_evaluation(row.id)
            closed.append(row.id)
    return closed


@with_db_session
def evaluate_study_session(
    session_id: int, evaluator_agent_id: int, score: int, feedback: str
) -> Evaluation:
    """Record the Evaluator agent's score (0 to 100) and feedback of a completed session."""
    if isinstance(score, bool) or not isinstance(score, int):
        raise InvalidArgumentError(
            f"The score must be a whole number from {MIN_SCORE} to {MAX_SCORE}, not {score!r}."
        )
    if not MIN_SCORE <= score <= MAX_SCORE:
        raise InvalidArgumentError(
            f"The score {score} is out of range; give a score from {MIN_SCORE} to {MAX_SCORE}."
        )
    if not isinstance(feedback, str) or not feedback.strip():
        raise InvalidArgumentError("The feedback is empty; say why the session got its score.")
    # Locks the session row: concurrent evaluations of one session queue up here.
    _transition(session_id, "evaluate", (SessionStatus.COMPLETED,))
    evaluator = _agent(get_current_session(), AgentType.EVALUATOR, evaluator_agent_id)
    if Evaluation.exists(study_session_id=session_id):
        raise _already_evaluated(session_id)
    try:
        return Evaluation.create(
            study_session_id=session_id,
            evaluator_agent_id=evaluator.id,
            score=score,
            feedback=feedback.strip(),
        )
    except IntegrityError as exc:
        # Another evaluation of this session committed after our check.
        raise _already_evaluated(session_id) from exc


@with_db_session(propagation="nested")
def _activate(session_id: int) -> StudySession:
    """The guarded UPDATE of `start`, in a savepoint: when the one-active-session
    constraint refuses it, the transaction goes on (PostgreSQL would refuse every further
    statement), so the refusal can name the session in progress."""
    return _transition(
        session_id,
        "start",
        (PLANNED,),
        status=ACTIVE,
        active_student_id=StudySession.student_id,
        started_at=utcnow(),
    )


def _already_active(session_id: int) -> str:
    """The refusal of a second active session, naming the one in progress."""
    student_id = select(StudySession.student_id).where(StudySession.id == session_id)
    query = (
        select(LearningUnit.title, Course.name)
        .join(StudySession, StudySession.learning_unit_id == LearningUnit.id)
        .join(Course, Course.id == LearningUnit.course_id)
        .where(StudySession.active_student_id == student_id.scalar_subquery())
    )
    running = get_current_session().execute(query).first()
    if running is None:  # ended in the meantime, by a transaction we cannot see yet
        return (
            "Another study session was in progress when this one tried to start. Try again, "
            "or end or cancel the other one first."
        )
    return (
        f"Another study session is in progress: '{running.title}' in {running.name}. End or "
        "cancel it before starting a new one."
    )


def _already_evaluated(session_id: int) -> AlreadyEvaluatedError:
    return AlreadyEvaluatedError(
        f"Study session {session_id} is already evaluated; a session has one evaluation. "
        "Read the existing one instead."
    )


def _finish(
    session_id: int,
    verb: str,
    allowed: Collection[SessionStatus],
    status: SessionStatus,
    idle_limit: timedelta | None,
) -> StudySession:
    now = utcnow()
    # `updated_at` is left as it is: it is the last activity, read back below.
    study_session = _transition(
        session_id,
        verb,
        allowed,
        status=status,
        active_student_id=None,
        ended_at=now,
        updated_at=StudySession.updated_at,
    )
    started = study_session.started_at
    if started is not None:
        last = _last_activity(started, study_session.updated_at)
        limit = session_idle_limit() if idle_limit is None else idle_limit
        ended = last if now - last > limit else now
        study_session.ended_at = ended
        study_session.duration_seconds = _seconds(started, ended)
    study_session.updated_at = now
    get_current_session().flush()
    return study_session


def _last_activity(started: datetime | None, updated: datetime) -> datetime:
    """An active session's last activity: its `updated_at`, never before its start."""
    return updated if started is None else max(started, updated)


def _seconds(started: datetime | None, ended: datetime) -> int | None:
    if started is None:
        return None
    return max(0, round((ended - started).total_seconds()))


def _transition(
    session_id: int, verb: str, allowed: Collection[SessionStatus], **values: Any
) -> StudySession:
    """Apply `values` to the session if its status is in `allowed`; return it fresh.

    `updated_at` is set too (its onupdate), so even an empty `values` writes and locks.
    """
    current, applied = guarded_update(
        StudySession, session_id, StudySession.status.in_(allowed), **values
    )
    if current is None:
        raise _not_found("study session", session_id)
    if not applied:
        wanted = " or ".join(status.value for status in allowed)
        raise InvalidTransitionError(
            f"Cannot {verb} the study session on '{current.learning_unit.title}': it is "
            f"{current.status.value}, and only {wanted} sessions allow that."
        )
    return current


def _agent(session: Session, agent_type: AgentType, agent_id: int | None) -> AIAgent:
    """The given active agent of `agent_type`, or (no id) the first active one."""
    label = f"{agent_type.value.capitalize()} agent"
    if agent_id is None:
        agent = AIAgent.get_by(agent_type=agent_type, is_active=True, first=True)
        if agent is None:
            raise NotFoundError(
                f"No active {label} exists. Create one, or pass the id of the agent to use."
            )
        return agent
    agent = _require(session, AIAgent, agent_id, label)
    if agent.agent_type != agent_type or not agent.is_active:
        state = "inactive" if agent.is_active is False else agent.agent_type.value
        raise InvalidArgumentError(
            f"AI agent {agent_id} is not an active {label} (it is {state}); pass the id "
            f"of an active {label}."
        )
    return agent


def _require(session: Session, model: type[M], ident: int, label: str) -> M:
    row = session.get(model, ident)
    if row is None:
        raise _not_found(label, ident)
    return row


def _not_found(label: str, ident: int) -> NotFoundError:
    return NotFoundError(f"No {label} has id {ident}; check the id.")


def _parse(enum_class: type[E], value: object, name: str) -> E:
    if isinstance(value, str) and value in enum_class._value2member_map_:
        return enum_class(value)
    choices = ", ".join(member.value for member in enum_class)
    raise InvalidArgumentError(f"The {name} {value!r} is not valid; use one of: {choices}.")


__all__ = [
    "E",
    "M",
    "MAX_MESSAGE_CHARS",
    "add_message",
    "cancel",
    "close_idle",
    "create_home_study_session",
    "end",
    "evaluate_study_session",
    "start",
]
