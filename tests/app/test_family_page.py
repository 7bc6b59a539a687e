"""/family: each child's courses and five newest sessions, whatever else is behind them."""

from __future__ import annotations

import re
from datetime import timedelta

from flask.testing import FlaskClient

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
    shown = [float(m) for m in re.findall(r"<td>(\d+\.\d)</td>", page)]
    assert shown == [7.0, 6.0, 5.0, 4.0, 3.0][:RECENT_SESSIONS]
    assert "Algebra 1" in page and "Biology" in page  # her two courses
