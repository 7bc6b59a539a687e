"""The Teacher's reply job: each student message enqueues it, a worker answers once."""

from __future__ import annotations

from sqlalchemy import func, select

from studyhall.database import DatabaseManager
from studyhall.jobs import Worker, enqueue, load_builtin_handlers
from studyhall.models import Job, JobStatus, MessageRole, StudyMessage
from studyhall.services.study_session import lifecycle
from studyhall.services.teacher_replies import MESSAGE_ID, REPLY_JOB
from tests.queries.conftest import Material, material, material_database
from tests.services.test_teacher_replies import session_on

__all__ = ["material", "material_database"]


def replies_to(message_id: int) -> list[StudyMessage]:
    with DatabaseManager.get_session() as session:
        query = select(StudyMessage).where(StudyMessage.in_reply_to_id == message_id)
        return list(session.scalars(query))


def reply_jobs() -> list[Job]:
    with DatabaseManager.get_session() as session:
        return list(session.scalars(select(Job).where(Job.kind == REPLY_JOB).order_by(Job.id)))


def test_a_student_message_gets_the_teachers_reply_through_a_job(material: Material):
    load_builtin_handlers()
    session_id = session_on(material, "Photosynthesis")
    before = len(reply_jobs())
    with DatabaseManager.get_session():
        message_id = lifecycle.add_message(
            session_id, MessageRole.STUDENT, "Where in the leaf does photosynthesis happen?"
        ).id
        lifecycle.add_message(session_id, MessageRole.TEACHER, "Let me look.")  # no job

    jobs = reply_jobs()[before:]
    assert [(job.payload, job.status) for job in jobs] == [
        ({MESSAGE_ID: message_id}, JobStatus.QUEUED)
    ]

    assert Worker(kinds=[REPLY_JOB]).run_pending() == 1

    [reply] = replies_to(message_id)
    assert reply.study_session_id == session_id
    assert "In the chloroplasts of the leaf" in reply.content
    assert reply_jobs()[-1].status == JobStatus.DONE


def test_no_job_without_the_message_and_one_reply_however_often_it_runs(material: Material):
    load_builtin_handlers()
    session_id = session_on(material, "Cells")
    before = len(reply_jobs())
    try:
        with DatabaseManager.get_session():
            lifecycle.add_message(session_id, MessageRole.STUDENT, "What is a membrane?")
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert len(reply_jobs()) == before  # the job went with the message

    with DatabaseManager.get_session():
        message_id = lifecycle.add_message(session_id, MessageRole.STUDENT, "Membrane?").id
        # The same message's reply asked for again, as a job re-run would do.
        enqueue(REPLY_JOB, {MESSAGE_ID: message_id}, key=f"again:{message_id}")

    assert Worker(kinds=[REPLY_JOB]).run_pending() == 2
    assert len(replies_to(message_id)) == 1
    with DatabaseManager.get_session() as session:
        done = select(func.count()).where(Job.kind == REPLY_JOB, Job.status == JobStatus.DONE)
        assert session.scalar(done) == len(reply_jobs())
