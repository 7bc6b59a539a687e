"""Login and logout: the password check, CSRF on the form, the cookie, safe redirects."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from studyhall.app.auth import LOGIN_FAILED
from studyhall.database import DatabaseManager
from studyhall.models import User
from tests.app.support import World, csrf_token, login, post, user_email


def test_right_password_signs_in_and_records_the_login(client: FlaskClient) -> None:
    response = login(client, "alice")
    assert response.status_code == 302
    assert response.location == "/my_courses"
    assert "Alice Tester" in client.get("/my_courses").get_data(as_text=True)
    with DatabaseManager.get_session():
        user = User.get_by_email(user_email("alice"))
        assert user is not None and user.last_login_at is not None


@pytest.mark.parametrize(
    ("name", "password"),
    [("alice", "wrong password"), ("nobody-here", "correct horse battery"), ("idle", None)],
    ids=["wrong-password", "unknown-user", "deactivated-user"],
)
def test_failed_login_says_the_same_thing(
    client: FlaskClient, world: World, name: str, password: str | None
) -> None:
    response = login(client, name, password) if password else login(client, name)
    assert response.status_code == 401
    assert LOGIN_FAILED in response.get_data(as_text=True)
    assert client.get("/my_courses").status_code == 302


@pytest.mark.parametrize(
    "token",
    [None, "", "forged-token", "caf\u00e9-t\u00f6ken"],
    ids=["missing", "empty", "forged", "non-ascii"],
)
def test_login_without_the_csrf_token_is_refused(
    client: FlaskClient, world: World, token: str | None
) -> None:
    csrf_token(client)  # the session has a token; the form does not send it
    data = {"email": user_email("alice"), "password": "correct horse battery"}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/login", data=data)
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    assert client.get("/my_courses").status_code == 302


@pytest.mark.parametrize(
    "role_home", [("alice", "/my_courses"), ("paula", "/family"), ("mona", "/school")]
)
def test_each_role_lands_on_its_home_page(
    client: FlaskClient, world: World, role_home: tuple[str, str]
) -> None:
    name, home = role_home
    assert login(client, name).location == home
    assert client.get("/").location == home


def test_login_returns_to_the_page_asked_for_but_never_off_site(client: FlaskClient) -> None:
    first = client.get("/history")
    assert first.location == "/login?next=/history"
    token = csrf_token(client)
    form = {"email": user_email("alice"), "password": "correct horse battery", "csrf_token": token}
    assert client.post("/login?next=/history", data=form).location == "/history"
    for evil in (
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "/\r\nSet-Cookie: planted=1",
    ):
        client.post("/logout", data={"csrf_token": csrf_token(client)})
        form["csrf_token"] = csrf_token(client)
        response = client.post("/login", query_string={"next": evil}, data=form)
        assert response.location == "/my_courses"


def test_a_non_ascii_csrf_header_is_refused(client: FlaskClient, world: World) -> None:
    login(client, "alice")
    csrf_token(client)  # the session has a token; the header sends another
    response = client.post("/logout", headers={"X-CSRF-Token": "t\u00f6ken"})
    assert response.status_code == 400
    assert client.get("/my_courses").status_code == 200


def test_session_cookie_is_httponly_and_samesite(client: FlaskClient, world: World) -> None:
    response = login(client, "alice")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_logout_ends_the_session_and_needs_csrf(client: FlaskClient, world: World) -> None:
    login(client, "alice")
    assert client.post("/logout").status_code == 400
    assert client.get("/my_courses").status_code == 200
    response = post(client, "/logout", follow=True)
    assert "You are signed out." in response.get_data(as_text=True)
    assert client.get("/my_courses").status_code == 302


def test_a_deactivated_account_is_signed_out(client: FlaskClient, world: World) -> None:
    login(client, "alice")
    with DatabaseManager.get_session():
        user = User.get_by_email(user_email("alice"))
        assert user is not None
        user.is_active = False
    # The session check joins the user's row: the first request is already signed out.
    assert client.get("/my_courses").location.startswith("/login?next=")
    assert client.get("/my_courses").location.startswith("/login?next=")
