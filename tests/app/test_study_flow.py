"""The student's study flow as a new user meets it: messages that name units, Continue
buttons and a banner while a session runs, a confirmation before cancelling and after
ending, and a favicon."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from studyhall.app.student import spoken_duration
from studyhall.database import DatabaseManager, get_current_session
from studyhall.models import SessionStatus, StudySession
from tests.app.support import World, login, post


def start(client: FlaskClient, world: World, unit: int = 0) -> str:
    path = f"/courses/{world.algebra}/units/{world.algebra_units[unit]}/study_sessions"
    response = post(client, path)
    assert response.status_code == 302
    return response.location


def text(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return html.unescape(response.get_data(as_text=True))


def flashes(page: str, category: str) -> list[str]:
    return re.findall(rf'<p class="flash {category}"[^>]*>(.*?)</p>', page)


def session_id(page: str) -> int:
    return int(page.rsplit("/", 1)[1])


def test_a_second_start_names_the_running_unit_not_an_id(
    client: FlaskClient, world: World
) -> None:
    login(client, "alice")
    running = start(client, world, unit=0)
    path = f"/courses/{world.algebra}/units/{world.algebra_units[1]}/study_sessions"
    shown = html.unescape(post(client, path, follow=True).get_data(as_text=True))
    assert flashes(shown, "error") == [
        "Another study session is in progress: 'Equations part 1' in Algebra 1. End or "
        "cancel it before starting a new one."
    ]
    assert "Continue Equations part 1" in shown and running in shown


def test_start_buttons_are_offered_while_no_session_runs(
    client: FlaskClient, world: World
) -> None:
    login(client, "alice")
    page = text(client, f"/courses/{world.algebra}")
    assert page.count(">Start study session</button>") == len(world.algebra_units)
    assert "Continue " not in page and "in progress" not in page


@pytest.mark.parametrize("course", ["algebra", "biology"])
def test_while_a_session_runs_start_buttons_become_continue_and_the_banner_names_it(
    client: FlaskClient, world: World, course: str
) -> None:
    login(client, "alice")
    running = start(client, world, unit=1)
    page = text(client, f"/courses/{getattr(world, course)}")
    assert "Start study session" not in page
    assert "You have a study session in progress: Equations part 2 (Algebra 1)." in page
    units = len(world.algebra_units) if course == "algebra" else 1
    continues = re.findall(rf'<a [^>]*href="{running}"[^>]*>Continue Equations part 2</a>', page)
    assert len(continues) == units + 1  # each unit's button, and the banner's link


def test_cancelling_asks_for_confirmation_first(client: FlaskClient, world: World) -> None:
    login(client, "alice")
    page = start(client, world)
    shown = text(client, page)
    # No one-click cancel: the page links to a confirmation, which works without JavaScript.
    assert f'action="{page}/cancel"' not in shown
    assert f'href="{page}/cancel"' in shown
    confirm = text(client, f"{page}/cancel")
    assert "Cancel your study session on Equations part 1?" in confirm
    assert f'<form method="post" action="{page}/cancel">' in confirm
    assert ">Yes, cancel the session</button>" in confirm
    assert f'href="{page}">Keep studying</a>' in confirm
    with DatabaseManager.get_session():
        assert StudySession.get(session_id(page)).status == SessionStatus.ACTIVE

    done = html.unescape(post(client, f"{page}/cancel", follow=True).get_data(as_text=True))
    assert flashes(done, "success") == ["You cancelled your study session on Equations part 1."]
    with DatabaseManager.get_session():
        assert StudySession.get(session_id(page)).status == SessionStatus.CANCELLED


def test_the_confirmation_of_a_session_that_cannot_be_cancelled_says_so(
    client: FlaskClient, world: World
) -> None:
    login(client, "alice")
    page = start(client, world)
    post(client, f"{page}/end")
    response = client.get(f"{page}/cancel", follow_redirects=True)
    shown = html.unescape(response.get_data(as_text=True))
    assert response.request.path == page
    assert "This study session on Equations part 1 is completed: it can no longer be" in shown


def test_ending_shows_a_confirmation_naming_the_unit_and_duration(
    client: FlaskClient, world: World
) -> None:
    login(client, "alice")
    page = start(client, world, unit=2)
    with DatabaseManager.get_session():
        found = StudySession.get(session_id(page))
        assert found is not None and found.started_at is not None
        get_current_session().execute(
            update(StudySession)
            .where(StudySession.id == found.id)
            .values(started_at=found.started_at - timedelta(seconds=125))
        )
    shown = html.unescape(post(client, f"{page}/end", follow=True).get_data(as_text=True))
    assert flashes(shown, "success") == [
        "Well done: you ended your study session on Equations part 3 after 2 minutes."
    ]
    assert '<p class="flash success" role="status">' in shown


def test_a_refused_action_names_the_unit(client: FlaskClient, world: World) -> None:
    login(client, "alice")
    page = start(client, world)
    post(client, f"{page}/end")
    shown = html.unescape(post(client, f"{page}/end", follow=True).get_data(as_text=True))
    assert "Cannot end the study session on 'Equations part 1': it is completed" in shown


@pytest.mark.parametrize(
    ("seconds", "spoken"),
    [
        (0, "less than a minute"),
        (59, "less than a minute"),
        (60, "1 minute"),
        (125, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "1 hour"),
        (3720, "1 hour 2 minutes"),
        (7260, "2 hours 1 minute"),
    ],
)
def test_durations_are_spoken(seconds: int, spoken: str) -> None:
    assert spoken_duration(seconds) == spoken


def test_the_favicon_is_served(client: FlaskClient, world: World) -> None:
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/svg+xml"
        assert b"<svg" in response.data
    page = client.get("/login").get_data(as_text=True)
    assert re.search(r'<link rel="icon" href="/static/favicon\.svg" type="image/svg\+xml">', page)
    with client.get("/static/favicon.svg") as response:
        assert response.status_code == 200


def test_a_finished_session_says_how_long_it_lasted(client: FlaskClient, world: World) -> None:
    login(client, "alice")
    assert "· 10 minutes</span>" in text(client, f"/study_sessions/{world.a_session}")
