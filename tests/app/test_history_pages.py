"""/history in keyset pages: newest first, every finished session once, bad cursors a 400."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from studyhall.app.student import HISTORY_PAGE
from studyhall.database import DatabaseManager
from studyhall.models import (
    AgentType,
    AIAgent,
    HomeHoursStudySession,
    LearningUnit,
    SessionStatus,
    Student,
)
from tests.app.support import World, login, user_email

MORE = HISTORY_PAGE + 4  # alice has one finished session already


def add_finished_sessions(world: World, count: int) -> None:
    with DatabaseManager.get_session():
        alice = Student.get_by_email(user_email("alice"))
        teacher = AIAgent.get_by(agent_type=AgentType.TEACHER, first=True)
        unit = LearningUnit.get(world.algebra_units[1])
        assert alice is not None and teacher is not None and unit is not None
        for _ in range(count):
            HomeHoursStudySession.create(
                student=alice,
                learning_unit=unit,
                teacher_agent=teacher,
                status=SessionStatus.COMPLETED,
                duration_seconds=60,
            )


def session_links(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/study_sessions/(\d+)"', page)]


def older_link(page: str) -> str | None:
    found = re.search(r'<a href="(/history\?after=[^"]+)">Older sessions</a>', page)
    return found[1].replace("&amp;", "&") if found else None


def test_history_pages_through_every_finished_session_once(client: FlaskClient, world: World):
    add_finished_sessions(world, MORE)
    login(client, "alice")
    first = client.get("/history")
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    ids = session_links(page)
    assert len(ids) == HISTORY_PAGE
    assert "Newest sessions" not in page
    link = older_link(page)
    assert link is not None

    second = client.get(link).get_data(as_text=True)
    rest = session_links(second)
    assert len(rest) == MORE + 1 - HISTORY_PAGE
    assert older_link(second) is None and "Newest sessions" in second
    everything = ids + rest
    assert len(set(everything)) == MORE + 1
    assert everything == sorted(everything, reverse=True)  # newest first (same minute: by id)


def test_a_tampered_cursor_is_a_400_not_a_500(client: FlaskClient, world: World):
    add_finished_sessions(world, MORE)
    login(client, "alice")
    link = older_link(client.get("/history").get_data(as_text=True))
    assert link is not None
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    for bad in (tampered, "/history?after=not-a-cursor", "/history?after=" + "x" * 5000):
        response = client.get(bad)
        assert response.status_code == 400, bad
        assert "Traceback" not in response.get_data(as_text=True)
