"""The periodic `sessions.close_idle` job: workers enqueue it on schedule, it closes
idle sessions at their last activity."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, update

from studyhall.database import DatabaseManager
from studyhall.jobs import Worker, load_builtin_handlers
from studyhall.jobs.registry import SCHEDULE
from studyhall.jobs.sessions import CLOSE_IDLE_EVERY, CLOSE_IDLE_JOB
from studyhall.models import Job, JobStatus, SessionStatus, StudySession
from studyhall.models.types import utcnow
from studyhall.services.study_session import lifecycle
from tests.jobs.test_processes import wait_for
from tests.models.factories import make_world


def idle_and_recent_sessions() -> tuple[int, int, object]:
    """Two running sessions: one idle for 3 hours after 15 minutes of study, one active
    now; and the idle one's last activity."""
    with DatabaseManager.get_session() as session:
        world = make_world(students=2)
        idle, recent = (
            lifecycle.create_home_study_session(student.id, world.units[0].id).id
            for student in world.students
        )
        lifecycle.start(idle)
        lifecycle.start(recent)
        started = (utcnow() - timedelta(hours=3, minutes=15)).replace(microsecond=0)
        last = started + timedelta(minutes=15)
        session.execute(
            update(StudySession)
            .where(StudySession.id == idle)
            .values(started_at=started, updated_at=last)
        )
    return idle, recent, last


def sessions(*ids: int) -> list[StudySession]:
    with DatabaseManager.get_session() as session:
        query = select(StudySession).where(StudySession.id.in_(ids)).order_by(StudySession.id)
        return list(session.scalars(query))


def test_workers_schedule_the_job_and_it_closes_idle_sessions_at_their_last_activity(jobs_db):
    load_builtin_handlers()
    assert SCHEDULE[CLOSE_IDLE_JOB] == CLOSE_IDLE_EVERY
    idle, recent, last = idle_and_recent_sessions()

    worker = Worker(jobs_db, kinds=[CLOSE_IDLE_JOB])
    worker.start()  # its first loop enqueues the period's job
    try:
        wait_for(lambda: sessions(idle)[0].status == SessionStatus.COMPLETED, timeout=10)
    finally:
        assert worker.stop(30)

    closed, running = sessions(idle, recent)
    assert (closed.ended_at, closed.duration_seconds) == (last, 15 * 60)
    assert closed.active_student_id is None
    assert running.status == SessionStatus.ACTIVE
    with DatabaseManager.get_session() as session:
        jobs = session.scalars(select(Job).where(Job.kind == CLOSE_IDLE_JOB)).all()
        period = int(time.time() // CLOSE_IDLE_EVERY.total_seconds())
        assert [job.status for job in jobs] == [JobStatus.DONE]
        assert jobs[0].dedupe_key in (f"{CLOSE_IDLE_JOB}@{p}" for p in (period, period - 1))
