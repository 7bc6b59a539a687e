"""answer_message: the Teacher's reply from the course material, once, on every backend."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from studyhall.database import DatabaseManager
from studyhall.models import Assessment, Enrollment, MessageRole, StudyMessage, StudySession
from studyhall.queries.material_search import search_material
from studyhall.services.errors import InvalidArgumentError, NotFoundError
from studyhall.services.study_session import lifecycle
from studyhall.services.teacher_replies import answer_message
from tests.models.factories import make_student
from tests.queries.conftest import Material, material, material_database

__all__ = ["material", "material_database"]

_students = iter(range(1000, 100000))


def session_on(material: Material, unit: str) -> int:
    """A new student's active session on `unit` of the life-science course, committed."""
    with DatabaseManager.get_session():
        student = make_student(next(_students))
        Enrollment.create(student_id=student.id, course_id=material.life_science)
        planned = lifecycle.create_home_study_session(student.id, material.units[unit])
        lifecycle.start(planned.id)
        return planned.id


def ask(session_id: int, text: str) -> int:
    with DatabaseManager.get_session():
        return lifecycle.add_message(session_id, MessageRole.STUDENT, text).id


def answer(message_id: int) -> StudyMessage:
    with DatabaseManager.get_session():
        return answer_message(message_id, search_material)


def replies_to(message_id: int) -> int:
    with DatabaseManager.get_session() as session:
        query = select(func.count()).where(StudyMessage.in_reply_to_id == message_id)
        return int(session.scalar(query) or 0)


def test_the_reply_quotes_the_answer_in_the_same_session(material: Material):
    session_id = session_on(material, "Photosynthesis")
    message_id = ask(session_id, "Where in the leaf does photosynthesis happen?")

    reply = answer(message_id)

    assert (reply.study_session_id, reply.role, reply.in_reply_to_id) == (
        session_id,
        MessageRole.TEACHER,
        message_id,
    )
    assert "> In the chloroplasts of the leaf, which hold the green chlorophyll." in reply.content
    assert 'Read more in unit 2, "Photosynthesis"' in reply.content
    with DatabaseManager.get_session() as session:
        stored = session.get(StudySession, session_id)
        written = session.get(StudyMessage, reply.id)
        assert stored is not None and written is not None
        assert stored.updated_at == written.sent_at  # the reply touched its session


def test_no_match_says_so_and_gives_the_next_step(material: Material):
    session_id = session_on(material, "Photosynthesis")
    with DatabaseManager.get_session():
        unit_id = material.units["Photosynthesis"]
        Assessment.create(learning_unit_id=unit_id, title="Check: Photosynthesis")
    message_id = ask(session_id, "Tell me about volcanoes")

    reply = answer(message_id)

    assert reply.content.startswith("I could not find anything about that")
    assert reply.content.endswith(
        'take its test "Check: Photosynthesis", then go on to unit 3, "Food Chains".'
    )


def test_answering_twice_writes_one_reply(material: Material):
    message_id = ask(session_on(material, "Cells"), "What does the cell membrane do?")

    first = answer(message_id)
    second = answer(message_id)

    assert second.id == first.id
    assert replies_to(message_id) == 1


def test_concurrent_runs_write_one_reply(material: Material):
    message_id = ask(session_on(material, "Cells"), "What does the cell membrane do?")
    barrier = threading.Barrier(4)
    ids: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            ids.append(answer(message_id).id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(ids)) == 1
    assert replies_to(message_id) == 1


def test_the_database_refuses_a_second_reply_to_a_message(material: Material):
    session_id = session_on(material, "Cells")
    message_id = ask(session_id, "What does the cell membrane do?")
    answer(message_id)

    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        with DatabaseManager.get_session():
            StudyMessage.create(
                study_session_id=session_id,
                role=MessageRole.TEACHER,
                content="again",
                in_reply_to_id=message_id,
            )


def test_only_a_students_existing_message_is_answered(material: Material):
    reply = answer(ask(session_on(material, "Cells"), "What does the cell membrane do?"))

    with pytest.raises(InvalidArgumentError, match="only a student's message"):
        answer(reply.id)
    with pytest.raises(NotFoundError, match="No study message has id 999999"):
        answer(999999)
