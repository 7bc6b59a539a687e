"""Every page and action of the app, on every backend: content, domain errors, error pages."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from studyhall.database import DatabaseManager
from studyhall.db.recording import record_statements
from studyhall.models import (
    Course,
    Enrollment,
    School,
    SessionStatus,
    StudyMessage,
    StudySession,
    Subject,
    User,
)
from studyhall.services.study_session.lifecycle import MAX_MESSAGE_CHARS
from tests.app.support import World, login, post, user_email


def start(client: FlaskClient, world: World, unit: int = 0) -> str:
    """Start a session on an Algebra unit; return the study-session page's path."""
    path = f"/courses/{world.algebra}/units/{world.algebra_units[unit]}/study_sessions"
    response = post(client, path)
    assert response.status_code == 302
    assert re.fullmatch(r"/study_sessions/\d+", response.location)
    return response.location


def test_a_study_session_from_start_to_end(client: FlaskClient, world: World) -> None:
    login(client, "alice")
    course = client.get(f"/courses/{world.algebra}").get_data(as_text=True)
    assert "Equations part 2" in course and "Start study session" in course
    page = start(client, world, unit=1)
    assert "active" in client.get(page).get_data(as_text=True)
    assert "Continue Equations part 2" in client.get(f"/courses/{world.algebra}").get_data(
        as_text=True
    )

    shown = post(client, f"{page}/messages", follow=True, content="What is x if 2x = 6?")
    assert "What is x if 2x = 6?" in shown.get_data(as_text=True)

    ended = post(client, f"{page}/end", follow=True).get_data(as_text=True)
    assert "completed" in ended and "End session" not in ended
    history = client.get("/history").get_data(as_text=True)
    assert "Equations part 2" in history and "completed" in history


def test_cancel_a_session(client: FlaskClient, world: World) -> None:
    login(client, "alice")
    page = start(client, world)
    cancelled = post(client, f"{page}/cancel", follow=True).get_data(as_text=True)
    assert "cancelled" in cancelled and "Cancel session" not in cancelled


def test_a_second_active_session_is_refused_on_the_page(client: FlaskClient, world: World) -> None:
    login(client, "alice")
    start(client, world, unit=0)
    path = f"/courses/{world.algebra}/units/{world.algebra_units[1]}/study_sessions"
    response = post(client, path, follow=True)
    assert response.status_code == 200
    assert response.request.path == f"/courses/{world.algebra}"
    assert "Another study session is in progress" in response.get_data(as_text=True)
    with DatabaseManager.get_session():
        # The refused start left nothing behind, not even its planned session.
        statuses = [s.status for s in StudySession.get_by(learning_unit_id=world.algebra_units[1])]
        assert SessionStatus.PLANNED not in statuses


@pytest.mark.parametrize(
    ("action", "form", "message"),
    [
        ("messages", {"content": "   "}, "The message is empty"),
        ("end", {}, "Cannot end the study session on"),
    ],
    ids=["empty-message", "end-twice"],
)
def test_domain_errors_of_session_actions_are_shown(
    client: FlaskClient, world: World, action: str, form: dict[str, str], message: str
) -> None:
    login(client, "alice")
    page = start(client, world)
    if action == "end":
        post(client, f"{page}/end")
    response = post(client, f"{page}/{action}", follow=True, **form)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)


@pytest.mark.parametrize("size", [MAX_MESSAGE_CHARS, MAX_MESSAGE_CHARS + 1], ids=["max", "over"])
def test_a_message_is_stored_up_to_its_limit_and_refused_beyond(
    client: FlaskClient, world: World, size: int
) -> None:
    login(client, "alice")
    page = start(client, world)
    # Four UTF-8 bytes a character: the limit must fit MySQL's TEXT (65,535 bytes).
    response = post(client, f"{page}/messages", follow=True, content="\U0001f600" * size)
    assert response.status_code == 200
    too_long = "The message is too long" in response.get_data(as_text=True)
    assert too_long is (size > MAX_MESSAGE_CHARS)
    with DatabaseManager.get_session():
        stored = StudyMessage.count(study_session_id=int(page.rsplit("/", 1)[1]))
    assert stored == (0 if too_long else 1)


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/login", {"email": "alice\x00@example.edu", "password": "x"}),
        ("/login", {"email": "alice@example.edu", "password": "pass\x00word"}),
        ("/login?next=/history%00", {"email": "alice@example.edu", "password": "x"}),
        ("{page}/messages", {"content": "before\x00after"}),
    ],
    ids=["email", "password", "next", "message"],
)
def test_a_nul_character_is_a_bad_request_page(
    client: FlaskClient, world: World, path: str, form: dict[str, str]
) -> None:
    login(client, "alice")
    response = post(client, path.format(page=start(client, world)), **form)
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)
    with DatabaseManager.get_session():
        assert StudyMessage.count() == 0


@pytest.mark.parametrize("path", ["/login", "/my_courses", "/no/such/page"])
def test_no_page_can_be_framed_by_another_site(
    client: FlaskClient, world: World, path: str
) -> None:
    # A framed page's one-click buttons (end, cancel, sign out) could be clicked unseen.
    login(client, "alice")
    response = client.get(path)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_unknown_pages_are_404_pages(client: FlaskClient, world: World) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is nothing here" in response.get_data(as_text=True)


def test_no_traceback_reaches_the_browser(app: Flask, client: FlaskClient) -> None:
    @app.get("/broken")
    def broken() -> str:
        raise RuntimeError("secret internal detail")

    response = client.get("/broken")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in page
    assert "Traceback" not in page and "secret internal detail" not in page


def test_my_courses_costs_the_same_statements_for_many_courses(
    client: FlaskClient, world: World
) -> None:
    login(client, "bob")
    first = _statements(client, "/my_courses")
    with DatabaseManager.get_session():
        bob = User.get_by_email(user_email("bob"))
        school = School.get_by(first=True)
        assert bob is not None and school is not None
        for number in range(20):
            subject = Subject.create(name=f"Subject {number}")
            course = Course.create(
                school=school, subject=subject, name=f"Extra {number}", grade_level=7
            )
            Enrollment.create(student_id=bob.id, course=course)
    page = client.get("/my_courses").get_data(as_text=True)
    assert "Extra 19" in page
    assert _statements(client, "/my_courses") == first


def _statements(client: FlaskClient, path: str) -> int:
    with record_statements() as seen:
        assert client.get(path).status_code == 200
    return seen.count


def test_signed_in_pages_are_never_cached(client: FlaskClient, world: World) -> None:
    # On a shared computer, the back button must not show a page after sign-out.
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")
    login(client, "alice")
    assert client.get("/my_courses").headers["Cache-Control"] == "no-store"
    assert post(client, "/logout", follow=False).headers["Cache-Control"] == "no-store"
