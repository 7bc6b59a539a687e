"""`answer_message`: the Teacher's reply to a student's message, written once.

The reply job's handler calls it in the job's unit of work. It reads the message and its
session, finds the matching course material with the given `search` (the read model
`studyhall.queries.search_material`; passed in, as services do not import queries), asks
the session's Teacher agent (`agents.agent_for`) and records the reply in the same
session. Idempotent: the reply names the message it answers in `in_reply_to_id`, which
is UNIQUE, so a second run (or a concurrent one) returns the existing reply instead of
writing another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from studyhall.db.decorators import with_db_session
from studyhall.db.transaction import get_current_session
from studyhall.models import (
    AIAgent,
    Assessment,
    Course,
    LearningUnit,
    MessageRole,
    StudyMessage,
    StudySession,
)
from studyhall.models.types import utcnow
from studyhall.services.agents import NextStep, ReplyRequest, UnitRef, agent_for
from studyhall.services.agents.protocol import MaterialHit
from studyhall.services.errors import InvalidArgumentError, NotFoundError
from studyhall.services.job_queue import enqueue

# The job kind of a reply (its handler: `studyhall.jobs.teacher`), and its payload's key.
REPLY_JOB = "teacher.reply"
MESSAGE_ID = "message_id"
# (course id, the student's text, at most this many hits) -> the matches, best first.
Search = Callable[[int, str, int], Sequence[MaterialHit]]
# Matches given to the agent: its answer, and a few units to read more in.
HITS = 5


def request_reply(message_id: int) -> int | None:
    """Enqueue the reply job of the student's message `message_id` in the current unit of
    work: it exists if and only if the message is committed. One job per message (its
    key); the job's id, or None when the message has one already."""
    return enqueue(REPLY_JOB, {MESSAGE_ID: message_id}, key=f"{REPLY_JOB}:{message_id}")


@with_db_session
def answer_message(message_id: int, search: Search) -> StudyMessage:
    """The Teacher's reply to the student's message `message_id`: written now, or the one
    written before. Joins the active unit of work, else opens one."""
    session = get_current_session()
    # Runs answering one message queue up here (its row's lock), so the next one finds
    # the first one's reply; and no snapshot is taken before it (MariaDB's REPEATABLE READ).
    locked = session.execute(
        select(StudyMessage.role, StudyMessage.content)
        .where(StudyMessage.id == message_id)
        .with_for_update()
    ).first()
    if locked is None:
        raise NotFoundError(f"No study message has id {message_id}; check the id.")
    if locked.role != MessageRole.STUDENT:
        raise InvalidArgumentError(
            f"Study message {message_id} is the Teacher's own; only a student's message "
            "gets a reply."
        )
    found = session.execute(_context(message_id)).one()
    if found.reply is not None:
        return cast(StudyMessage, found.reply)
    unit = UnitRef(found.unit_id, found.position, found.title)
    request = ReplyRequest(
        message=locked.content,
        course_name=found.course_name,
        unit=unit,
        hits=search(found.course_id, locked.content, HITS),
        next_step=NextStep(
            assessment_title=found.assessment_title,
            next_unit=None
            if found.next_id is None
            else UnitRef(found.next_id, found.next_position, found.next_title),
        ),
    )
    content = agent_for(found.AIAgent).reply(request)
    return _record(found.study_session_id, message_id, content)


def _context(message_id: int) -> Select[Any]:
    """One SELECT of what a reply needs: an earlier reply, the session's unit, course and
    Teacher agent, the unit's test and the next unit."""
    reply = aliased(StudyMessage, name="reply")
    unit = aliased(LearningUnit, name="unit")
    after = aliased(LearningUnit, name="after")
    later = aliased(LearningUnit, name="later")
    first_test = (
        select(Assessment.title)
        .where(Assessment.learning_unit_id == unit.id)
        .order_by(Assessment.id)
        .limit(1)
        .scalar_subquery()
    )
    next_position = (
        select(func.min(later.position))
        .where(later.course_id == unit.course_id, later.position > unit.position)
        .scalar_subquery()
    )
    return (
        select(
            reply,
            AIAgent,
            StudyMessage.study_session_id,
            unit.id.label("unit_id"),
            unit.position,
            unit.title,
            unit.course_id,
            Course.name.label("course_name"),
            first_test.label("assessment_title"),
            after.id.label("next_id"),
            after.position.label("next_position"),
            after.title.label("next_title"),
        )
        .select_from(StudyMessage)
        .join(StudySession, StudySession.id == StudyMessage.study_session_id)
        .join(unit, unit.id == StudySession.learning_unit_id)
        .join(Course, Course.id == unit.course_id)
        .join(AIAgent, AIAgent.id == StudySession.teacher_agent_id)
        .outerjoin(after, and_(after.course_id == unit.course_id, after.position == next_position))
        .outerjoin(reply, reply.in_reply_to_id == StudyMessage.id)
        .where(StudyMessage.id == message_id)
    )


def _reply_to(message_id: int) -> StudyMessage | None:
    query = select(StudyMessage).where(StudyMessage.in_reply_to_id == message_id)
    return get_current_session().scalars(query).first()


@with_db_session(propagation="nested")
def _insert(study_session_id: int, message_id: int, content: str, now: datetime) -> StudyMessage:
    """The reply's INSERT in a savepoint: when a concurrent run's reply wins the UNIQUE
    `in_reply_to_id`, the transaction goes on (PostgreSQL would refuse every statement)."""
    return StudyMessage.create(
        study_session_id=study_session_id,
        role=MessageRole.TEACHER,
        content=content,
        sent_at=now,
        in_reply_to_id=message_id,
    )


def _record(study_session_id: int, message_id: int, content: str) -> StudyMessage:
    session = get_current_session()
    now = utcnow()
    # Its session changes with every message (`updated_at`).
    session.execute(
        update(StudySession)
        .where(StudySession.id == study_session_id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    try:
        return _insert(study_session_id, message_id, content, now)
    except IntegrityError:
        existing = _reply_to(message_id)
        if existing is None:
            raise
        return existing


__all__ = ["HITS", "MESSAGE_ID", "REPLY_JOB", "Search", "answer_message", "request_reply"]
