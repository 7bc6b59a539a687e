"""A study session's page shows its newest messages, in conversation order, with older
ones a page back; its cost does not grow with the messages behind it."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import insert

from studyhall.app.student import MESSAGE_PAGE
from studyhall.database import DatabaseManager, get_current_session
from studyhall.models import MessageRole, StudyMessage
from tests.app.support import World, login

EXTRA = 7  # messages beyond one page


def add_messages(session_id: int, count: int) -> None:
    """`count` messages "Line 1" ... "Line count", oldest first, in one statement."""
    with DatabaseManager.get_session():
        get_current_session().execute(
            insert(StudyMessage),
            [
                {"study_session_id": session_id, "role": MessageRole.STUDENT, "content": line}
                for line in (f"Line {n}" for n in range(1, count + 1))
            ],
        )


def lines(page: str) -> list[int]:
    return [int(n) for n in re.findall(r"<p>Line (\d+)</p>", page)]


def older_link(page: str) -> str | None:
    found = re.search(r'<a href="(/study_sessions/\d+\?before=[^"]+)">Earlier messages</a>', page)
    return found[1].replace("&amp;", "&") if found else None


def test_the_page_shows_the_newest_messages_in_order_and_older_ones_a_page_back(
    client: FlaskClient, world: World
) -> None:
    add_messages(world.a_session, MESSAGE_PAGE + EXTRA)
    login(client, "alice")
    first = client.get(f"/study_sessions/{world.a_session}").get_data(as_text=True)
    newest = list(range(EXTRA + 1, MESSAGE_PAGE + EXTRA + 1))
    assert lines(first) == newest  # the newest page, oldest of them first
    assert "Newest messages" not in first
    link = older_link(first)
    assert link is not None

    second = client.get(link).get_data(as_text=True)
    assert lines(second) == list(range(1, EXTRA + 1))
    assert older_link(second) is None and "Newest messages" in second


def test_a_short_conversation_has_no_page_links(client: FlaskClient, world: World) -> None:
    add_messages(world.a_session, 3)
    login(client, "alice")
    page = client.get(f"/study_sessions/{world.a_session}").get_data(as_text=True)
    assert lines(page) == [1, 2, 3]
    assert older_link(page) is None and "Newest messages" not in page


def test_a_bad_or_foreign_cursor_is_a_400(client: FlaskClient, world: World) -> None:
    add_messages(world.a_session, MESSAGE_PAGE + EXTRA)
    add_messages(world.b_session, MESSAGE_PAGE + EXTRA)
    login(client, "alice")
    link = older_link(client.get(f"/study_sessions/{world.a_session}").get_data(as_text=True))
    assert link is not None
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    for bad in (tampered, f"/study_sessions/{world.a_session}?before=nonsense"):
        response = client.get(bad)
        assert response.status_code == 400, bad
        assert "Traceback" not in response.get_data(as_text=True)


def test_a_cursor_shows_only_messages_of_the_session_in_the_address(
    client: FlaskClient, world: World
) -> None:
    # A cursor holds a position, not a session: used on another of alice's sessions it
    # pages that session's messages, never another student's.
    add_messages(world.a_session, MESSAGE_PAGE + EXTRA)
    login(client, "alice")
    link = older_link(client.get(f"/study_sessions/{world.a_session}").get_data(as_text=True))
    assert link is not None
    response = client.get(link.replace(str(world.a_session), str(world.b_session), 1))
    assert response.status_code == 404  # bob's session
