"""The JSON an open study session page polls: messages after the last one it shows, and
the evaluation once written; the page's own access rules (404 for another's session)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from studyhall.app.access import MAX_ID
from studyhall.app.student import MESSAGE_PAGE
from studyhall.database import DatabaseManager
from studyhall.models import AgentType, AIAgent, Evaluation, MessageRole, StudyMessage
from tests.app.support import World, login


def add_messages(session_id: int, *contents: str) -> list[int]:
    """Messages of the Teacher in the session, as its reply job writes them; their ids."""
    with DatabaseManager.get_session():
        return [
            StudyMessage.create(
                study_session_id=session_id, role=MessageRole.TEACHER, content=content
            ).id
            for content in contents
        ]


def poll(client: FlaskClient, path: str) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.get_json()
    return body


def test_messages_after_an_id_are_the_newer_ones_oldest_first(
    client: FlaskClient, world: World
) -> None:
    first, second, third = add_messages(world.a_session, "One.", "<b>Two</b> & co", "Three.")
    login(client, "alice")
    url = f"/study_sessions/{world.a_session}/messages"
    everything = poll(client, url)
    assert [m["id"] for m in everything["messages"]] == [first, second, third]
    assert everything["more"] is False and everything["status"] == "completed"
    assert everything["messages"][1] == {
        "id": second,
        "role": "teacher",
        "author": "Teacher",
        "content": "<b>Two</b> & co",  # text, as written: the page sets it as text
    }
    assert [m["content"] for m in poll(client, f"{url}?after={first}")["messages"]] == [
        "<b>Two</b> & co",
        "Three.",
    ]
    assert poll(client, f"{url}?after={third}")["messages"] == []


def test_more_than_a_page_of_new_messages_comes_a_page_at_a_time(
    client: FlaskClient, world: World
) -> None:
    ids = add_messages(world.a_session, *(f"Line {n}" for n in range(MESSAGE_PAGE + 3)))
    login(client, "alice")
    url = f"/study_sessions/{world.a_session}/messages"
    page = poll(client, f"{url}?after=0")
    assert [m["id"] for m in page["messages"]] == ids[:MESSAGE_PAGE] and page["more"] is True
    last = page["messages"][-1]["id"]
    rest = poll(client, f"{url}?after={last}")
    assert [m["id"] for m in rest["messages"]] == ids[MESSAGE_PAGE:] and rest["more"] is False


@pytest.mark.parametrize("what", ["messages", "evaluation"])
def test_only_the_students_own_session_answers(
    client: FlaskClient, world: World, what: str
) -> None:
    add_messages(world.b_session, "For Bob only.")
    assert client.get(f"/study_sessions/{world.a_session}/{what}").status_code == 302
    login(client, "alice")
    for other in (world.b_session, world.c_session, MAX_ID):
        response = client.get(f"/study_sessions/{other}/{what}")
        assert response.status_code == 404, other
        assert "For Bob only" not in response.get_data(as_text=True)
    assert client.get(f"/study_sessions/{world.a_session}/{what}").status_code == 200
    parent = client.application.test_client()
    login(parent, "paula")
    assert parent.get(f"/study_sessions/{world.a_session}/{what}").status_code == 403


@pytest.mark.parametrize("after", ["x", "-1", "1.5", "", str(MAX_ID + 1), "9" * 11, "0x10"])
def test_an_after_that_is_not_a_message_id_is_a_400(
    client: FlaskClient, world: World, after: str
) -> None:
    login(client, "alice")
    response = client.get(f"/study_sessions/{world.a_session}/messages?after={after}")
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


def test_the_evaluation_is_null_until_written_then_given(
    client: FlaskClient, world: World
) -> None:
    login(client, "bob")
    url = f"/study_sessions/{world.b_session}/evaluation"
    assert poll(client, url) == {"status": "completed", "evaluation": None}
    with DatabaseManager.get_session():
        evaluator = AIAgent.get_by(agent_type=AgentType.EVALUATOR, first=True)
        assert evaluator is not None
        Evaluation.create(
            study_session_id=world.b_session,
            evaluator_agent=evaluator,
            score=64,
            feedback="Revisit part 2.",
        )
    assert poll(client, url) == {
        "status": "completed",
        "evaluation": {"score": 64, "feedback": "Revisit part 2."},
    }
