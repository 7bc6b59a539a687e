"""A session's duration runs from its start to its last activity (issue 11, item 5)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from studyhall.database import DatabaseManager
from studyhall.models import Job, MessageRole, SessionStatus, StudySession
from studyhall.models.types import utcnow
from studyhall.services.session_evaluations import EVALUATION_JOB, SESSION_ID
from studyhall.services.study_session import lifecycle
from tests.models.factories import World

HOURS_AGO = timedelta(hours=3)


def running(world: World, student: int = 0) -> int:
    session_id = lifecycle.create_home_study_session(
        world.students[student].id, world.units[0].id
    ).id
    lifecycle.start(session_id)
    return session_id


def set_times(session_id: int, started: datetime, last_activity: datetime) -> None:
    with DatabaseManager.get_session() as session:
        session.execute(
            update(StudySession)
            .where(StudySession.id == session_id)
            .values(started_at=started, updated_at=last_activity)
        )


def idle_since(session_id: int, ago: timedelta = HOURS_AGO, studied: int = 600) -> datetime:
    """Make the session started `ago` and last active `studied` seconds after; the last
    activity (whole seconds, as every backend keeps them)."""
    started = (utcnow() - ago).replace(microsecond=0)
    last = started + timedelta(seconds=studied)
    set_times(session_id, started, last)
    return last


def fresh(session_id: int) -> StudySession:
    with DatabaseManager.get_session():
        row = StudySession.get(session_id)
        assert row is not None
        return row


def test_ending_a_session_idle_past_the_limit_ends_it_at_its_last_activity(world):
    session_id = running(world)
    last = idle_since(session_id)

    ended = lifecycle.end(session_id)

    assert ended.status == SessionStatus.COMPLETED
    assert (ended.ended_at, ended.duration_seconds) == (last, 600)
    assert ended.updated_at > last  # the row changed now


def test_ending_within_the_limit_ends_now(world):
    session_id = running(world)
    idle_since(session_id)

    ended = lifecycle.end(session_id, idle_limit=timedelta(hours=4))

    assert ended.ended_at is not None and ended.ended_at >= utcnow() - timedelta(minutes=1)
    assert 3 * 3600 - 60 <= ended.duration_seconds <= 3 * 3600 + 60


def test_a_message_is_activity(world):
    session_id = running(world)
    idle_since(session_id, ago=timedelta(hours=1, minutes=50), studied=0)
    lifecycle.add_message(session_id, MessageRole.STUDENT, "Still here")
    idle_since_message = lifecycle.close_idle(timedelta(minutes=30))

    ended = lifecycle.end(session_id, idle_limit=timedelta(minutes=30))

    assert idle_since_message == []
    assert 110 * 60 - 60 <= ended.duration_seconds <= 110 * 60 + 60


def test_cancelling_an_idle_session_records_the_time_until_its_last_activity(world):
    session_id = running(world)
    last = idle_since(session_id, studied=90)

    cancelled = lifecycle.cancel(session_id)

    assert cancelled.status == SessionStatus.CANCELLED
    assert (cancelled.ended_at, cancelled.duration_seconds) == (last, 90)


def test_close_idle_completes_only_sessions_idle_past_the_limit(world):
    idle = running(world, 0)
    last = idle_since(idle, studied=1200)
    recent = running(world, 1)
    planned = lifecycle.create_home_study_session(world.students[1].id, world.units[1].id).id
    set_times(planned, None, utcnow() - timedelta(days=3))

    assert lifecycle.close_idle() == [idle]

    closed = fresh(idle)
    assert (closed.status, closed.active_student_id) == (SessionStatus.COMPLETED, None)
    assert (closed.ended_at, closed.duration_seconds) == (last, 1200)
    assert fresh(recent).status == SessionStatus.ACTIVE
    assert fresh(planned).status == SessionStatus.PLANNED
    assert lifecycle.close_idle() == []  # nothing more to close
    # The student may start another session: the closed one is no longer active.
    lifecycle.start(
        lifecycle.create_home_study_session(world.students[0].id, world.units[1].id).id
    )


@pytest.mark.parametrize(("minutes", "closed"), [("240", False), ("120", True), ("", True)])
def test_close_idle_reads_the_configured_limit(world, monkeypatch, minutes, closed):
    monkeypatch.setenv("STUDYHALL_SESSION_IDLE_MINUTES", minutes)
    session_id = running(world)
    idle_since(session_id)

    assert lifecycle.close_idle() == ([session_id] if closed else [])


def test_a_session_closed_when_idle_gets_its_evaluation_job(world):
    session_id = running(world)
    idle_since(session_id)

    assert lifecycle.close_idle() == [session_id]

    with DatabaseManager.get_session() as session:
        jobs = session.scalars(select(Job).where(Job.kind == EVALUATION_JOB)).all()
    assert [job.payload for job in jobs] == [{SESSION_ID: session_id}]
