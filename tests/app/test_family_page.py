"""/family: each child's courses and five newest sessions, whatever else is behind them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import insert, text

from studyhall.app.family import RECENT_SESSIONS
from studyhall.database import DatabaseManager
from studyhall.models import (
    AgentType,
    AIAgent,
    HomeHoursStudySession,
    LearningUnit,
    SessionStatus,
    Student,
)
from studyhall.models.types import utcnow
from studyhall.queries.family import recent_sessions_by_student
from tests.app.support import World, login, user_email


def test_each_child_shows_its_newest_sessions_newest_first(client: FlaskClient, world: World):
    with DatabaseManager.get_session():
        alice = Student.get_by_email(user_email("alice"))
        teacher = AIAgent.get_by(agent_type=AgentType.TEACHER, first=True)
        unit = LearningUnit.get(world.algebra_units[2])
        assert alice is not None and teacher is not None and unit is not None
        later = utcnow() + timedelta(days=1)
        for minutes in range(1, 8):  # 7 sessions, each newer than the last
            HomeHoursStudySession.create(
                student=alice,
                learning_unit=unit,
                teacher_agent=teacher,
                status=SessionStatus.COMPLETED,
                duration_seconds=60 * minutes,
                created_at=later + timedelta(minutes=minutes),
            )
    login(client, "paula")
    page = client.get("/family").get_data(as_text=True)
    shown = [float(m) for m in re.findall(r"<td[^>]*>(\d+\.\d)</td>", page)]
    assert shown == [7.0, 6.0, 5.0, 4.0, 3.0][:RECENT_SESSIONS]
    assert "Algebra 1" in page and "Biology" in page  # her two courses


def _rows_read(session: Any) -> int:
    """MariaDB's count of rows this connection's handlers have read so far."""
    status = session.execute(text("SHOW SESSION STATUS LIKE 'Handler_read%'"))
    return sum(int(value) for _, value in status)


def test_newest_sessions_read_what_they_show(client: FlaskClient, world: World):
    # Ranking every session of a child to keep five read all of them: 34 ms behind
    # 10,000 sessions against 7 ms behind a few (benchmarks/pages_at_scale.py). Each
    # child's newest sessions are read off the (student_id, created_at DESC, id DESC) index.
    with DatabaseManager.get_session() as session:
        alice = Student.get_by_email(user_email("alice"))
        carol = Student.get_by_email(user_email("carol"))
        teacher = AIAgent.get_by(agent_type=AgentType.TEACHER, first=True)
        unit = LearningUnit.get(world.algebra_units[2])
        assert alice and carol and teacher and unit
        ids = [alice.id, carol.id]

        def read() -> tuple[dict[int, list[int]], int]:
            before = _rows_read(session) if mariadb else 0
            found = recent_sessions_by_student(ids, RECENT_SESSIONS)
            after = _rows_read(session) if mariadb else 0
            return {k: [s.id for s in v] for k, v in found.items()}, after - before

        mariadb = session.get_bind().dialect.name in ("mysql", "mariadb")
        later = utcnow() + timedelta(days=1)
        table = HomeHoursStudySession.__table__
        row = {
            "kind": "home_hours",
            "learning_unit_id": unit.id,
            "teacher_agent_id": teacher.id,
            "status": "completed",
            "duration_seconds": 60,
        }
        session.execute(
            insert(table),
            [
                {**row, "student_id": s, "created_at": later - timedelta(minutes=n)}
                for n in range(10)
                for s in ids
            ],
        )
        few, few_read = read()
        session.execute(
            insert(table),
            [
                {**row, "student_id": s, "created_at": later - timedelta(days=1, minutes=n)}
                for n in range(300)
                for s in ids
            ],
        )
        many, many_read = read()
        assert many == few and all(len(v) == RECENT_SESSIONS for v in few.values())
        if mariadb:
            assert many_read <= few_read + 2, (few_read, many_read)
