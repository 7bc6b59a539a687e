"""Server-side sessions: a cookie is good only while its `user_sessions` row is live.

The attack: a session cookie captured before logout (a shared computer, a proxy log, a
stolen backup of the browser profile) still opened the pages after logout, because the
signed cookie was the whole session. Every test below replays a copied cookie in a
second client, as an attacker would.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, update

from studyhall.app import create_app
from studyhall.app.auth import TOKEN_KEY
from studyhall.cli import commands as cli
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager, get_current_session
from studyhall.db.recording import record_statements
from studyhall.errors import ConfigurationError
from studyhall.models import (
    Enrollment,
    EnrollmentStatus,
    User,
    UserSession,
    hash_session_token,
)
from studyhall.models.types import utcnow
from studyhall.services.accounts import change_password, deactivate_user
from studyhall.services.user_sessions import (
    LAST_SEEN_INTERVAL,
    live_session,
    prune_sessions,
    revoke_user_sessions,
    start_session,
)
from tests.app.support import PASSWORD, World, login, post, user_email

COOKIE = "session"


def signed_in_client(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, name).status_code == 302
    return client


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """A second client holding a copy of `client`'s session cookie: the attacker."""
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie.value)
    return thief


def token_of(client: FlaskClient) -> str:
    with client.session_transaction() as cookie:
        token = cookie[TOKEN_KEY]
    assert isinstance(token, str)
    return token


def is_signed_out(client: FlaskClient) -> bool:
    """Whether the student's home page sends this client to the login page."""
    response = client.get("/my_courses")
    assert response.status_code in (200, 302)
    return response.status_code == 302 and response.location.startswith("/login")


def user_id(name: str) -> int:
    with DatabaseManager.get_session():
        user = User.get_by_email(user_email(name))
        assert user is not None
        return user.id


def sessions_of(name: str) -> list[UserSession]:
    uid = user_id(name)
    with DatabaseManager.get_session():
        return list(
            get_current_session().scalars(select(UserSession).where(UserSession.user_id == uid))
        )


def test_a_cookie_captured_before_logout_is_signed_out_after_it(app: Flask) -> None:
    client = signed_in_client(app, "alice")
    thief = copy_of(app, client)
    assert not is_signed_out(thief)  # the copy works while the owner is signed in

    assert post(client, "/logout").status_code == 302

    assert is_signed_out(thief)
    assert is_signed_out(client)
    (row,) = sessions_of("alice")
    assert row.revoked_at is not None


def test_the_cookie_holds_a_token_whose_hash_alone_is_stored(app: Flask) -> None:
    client = signed_in_client(app, "alice")
    token = token_of(client)

    (row,) = sessions_of("alice")

    assert row.id == hash_session_token(token) != token
    assert row.expires_at > row.created_at
    with DatabaseManager.get_session():
        stored = get_current_session().scalar(
            select(func.count()).select_from(UserSession).where(UserSession.id == token)
        )
    assert stored == 0


def test_sign_out_everywhere_kills_every_cookie_of_the_user_only(app: Flask) -> None:
    laptop, phone = signed_in_client(app, "alice"), signed_in_client(app, "alice")
    thief, bob = copy_of(app, phone), signed_in_client(app, "bob")

    response = post(laptop, "/logout/everywhere")

    assert response.status_code == 302 and response.location.startswith("/login")
    assert all(is_signed_out(c) for c in (laptop, phone, thief))
    assert not is_signed_out(bob)


def test_sign_out_everywhere_needs_the_csrf_token(app: Flask) -> None:
    client = signed_in_client(app, "alice")
    response = client.post("/logout/everywhere", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert not is_signed_out(client)


def test_a_password_change_revokes_every_other_session(app: Flask) -> None:
    mine, other = signed_in_client(app, "alice"), signed_in_client(app, "alice")
    thief = copy_of(app, other)

    revoked = change_password(user_id("alice"), "a new passphrase", keep_token=token_of(mine))

    assert revoked == 1
    assert not is_signed_out(mine)
    assert is_signed_out(other) and is_signed_out(thief)
    assert login(app.test_client(), "alice").status_code == 401  # the old password
    assert login(app.test_client(), "alice", "a new passphrase").status_code == 302


def test_a_password_change_and_its_revocations_commit_together(app: Flask) -> None:
    client = signed_in_client(app, "alice")
    with pytest.raises(RuntimeError), DatabaseManager.get_session():
        change_password(user_id("alice"), "a new passphrase")
        raise RuntimeError("the caller fails after the change")

    assert not is_signed_out(client)
    assert login(app.test_client(), "alice", PASSWORD).status_code == 302


def test_deactivation_revokes_every_session(app: Flask) -> None:
    client = signed_in_client(app, "alice")
    thief = copy_of(app, client)

    assert deactivate_user(user_id("alice")) == 1

    assert is_signed_out(client) and is_signed_out(thief)


def test_a_user_deactivated_without_the_service_is_signed_out_too(app: Flask) -> None:
    client = signed_in_client(app, "bob")
    with DatabaseManager.get_session():
        get_current_session().execute(
            update(User).where(User.email == user_email("bob")).values(is_active=False)
        )
    assert is_signed_out(client)


def test_an_expired_session_is_signed_out(app: Flask) -> None:
    client = signed_in_client(app, "alice")
    with DatabaseManager.get_session():
        get_current_session().execute(
            update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert is_signed_out(client)


def test_a_signed_cookie_without_a_live_token_is_signed_out(app: Flask) -> None:
    # Cookies of the stateless days carry no token; a token must belong to the cookie's user.
    legacy = app.test_client()
    with legacy.session_transaction() as cookie:
        cookie.update(user_id=user_id("alice"), role="student", name="Alice Tester")
    assert is_signed_out(legacy)

    swapped = signed_in_client(app, "bob")
    with swapped.session_transaction() as cookie:
        cookie["user_id"] = user_id("alice")
    assert is_signed_out(swapped)


def test_login_deletes_the_users_dead_sessions(app: Flask) -> None:
    first = signed_in_client(app, "alice")
    post(first, "/logout")
    assert len(sessions_of("alice")) == 1

    signed_in_client(app, "alice")

    (row,) = sessions_of("alice")
    assert row.revoked_at is None


def test_last_seen_is_written_only_when_it_is_older_than_the_interval(app: Flask) -> None:
    client = signed_in_client(app, "alice")
    (row,) = sessions_of("alice")
    client.get("/my_courses")
    assert sessions_of("alice")[0].last_seen_at == row.last_seen_at

    long_ago = utcnow() - LAST_SEEN_INTERVAL - timedelta(seconds=1)
    with DatabaseManager.get_session():
        get_current_session().execute(update(UserSession).values(last_seen_at=long_ago))
    assert client.get("/my_courses").status_code == 200

    assert sessions_of("alice")[0].last_seen_at > long_ago


def test_prune_deletes_revoked_and_expired_sessions_only(world: World) -> None:
    alice, bob = user_id("alice"), user_id("bob")
    live, revoked = start_session(alice), start_session(bob)
    expired = start_session(bob, lifetime=timedelta(seconds=-1))
    revoke_user_sessions(bob)
    assert live_session(expired) is None

    assert prune_sessions() == 2

    with DatabaseManager.get_session():
        ids = set(get_current_session().scalars(select(UserSession.id)))
    assert ids == {hash_session_token(live)}
    assert revoked and prune_sessions() == 0


def test_the_cli_prunes_sessions(
    world: World, db_settings: DatabaseSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_session(user_id("bob"), lifetime=timedelta(seconds=-1))
    start_session(user_id("alice"))
    monkeypatch.setenv("DATABASE_URL", db_settings.url.render_as_string(hide_password=False))

    result = CliRunner().invoke(cli.main, ["sessions", "prune"])

    assert result.exit_code == 0, result.output
    assert "1 revoked or expired session deleted" in result.output
    DatabaseManager.initialize(db_settings)
    assert (len(sessions_of("alice")), len(sessions_of("bob"))) == (1, 0)


def test_without_revocable_sessions_the_copied_cookie_outlives_logout(world: World) -> None:
    # The benchmark's baseline (never for production): this is the attack the check stops.
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "REVOCABLE_SESSIONS": False})
    client = signed_in_client(app, "alice")
    thief = copy_of(app, client)
    post(client, "/logout")
    assert not is_signed_out(thief)


def test_production_refuses_to_turn_the_check_off(world: World) -> None:
    with pytest.raises(ConfigurationError, match="REVOCABLE_SESSIONS"):
        create_app(
            {
                "SECRET_KEY": secrets.token_hex(32),
                "STUDYHALL_ENV": "production",
                "REVOCABLE_SESSIONS": False,
            }
        )


def test_my_courses_checks_the_session_in_the_query_it_sends_anyway(app: Flask) -> None:
    # The cost the benchmark measures: the page's one SELECT also reads the session by
    # primary key, so the check adds no statement and no connection checkout.
    client = signed_in_client(app, "alice")
    baseline = create_app(
        {"TESTING": True, "SECRET_KEY": "test-secret", "REVOCABLE_SESSIONS": False}
    )
    stateless = copy_of(baseline, client)
    checkouts: list[object] = []
    engine = DatabaseManager.database().engine

    def count(*args: object) -> None:
        checkouts.append(args)

    def measure(who: FlaskClient) -> tuple[list[str], int]:
        checkouts.clear()
        with record_statements() as seen:
            page = who.get("/my_courses")
        assert page.status_code == 200 and "Algebra 1" in page.get_data(as_text=True)
        return seen.statements, len(checkouts)

    event.listen(engine, "checkout", count)
    try:
        measure(client), measure(stateless)  # anything a first request does once
        checked, checked_checkouts = measure(client)
        plain, plain_checkouts = measure(stateless)
    finally:
        event.remove(engine, "checkout", count)

    assert len(checked) == len(plain) == 1
    assert "user_sessions" in checked[0] and "user_sessions" not in plain[0]
    assert checked_checkouts == plain_checkouts == 1


@pytest.mark.parametrize("page", ["/history", "/courses/{algebra}"])
def test_pages_that_check_on_their_own_sign_out_a_copied_cookie_too(
    app: Flask, world: World, page: str
) -> None:
    path = page.format(algebra=world.algebra)
    client = signed_in_client(app, "alice")
    thief = copy_of(app, client)
    assert thief.get(path).status_code == 200

    post(client, "/logout")

    response = thief.get(path)
    assert response.status_code == 302 and response.location.startswith("/login")


def test_a_student_without_courses_stays_signed_in_on_my_courses(app: Flask) -> None:
    client = signed_in_client(app, "alice")
    with DatabaseManager.get_session():
        get_current_session().execute(update(Enrollment).values(status=EnrollmentStatus.DROPPED))
    page = client.get("/my_courses")
    assert page.status_code == 200 and "Algebra 1" not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("name", "page"),
    [
        ("alice", "/courses/{w.algebra}"),
        ("alice", "/study_sessions/{w.a_session}"),
        ("alice", "/history"),
        ("paula", "/family"),
        ("mona", "/school"),
    ],
)
def test_other_pages_check_the_session_on_the_connection_of_their_unit(
    app: Flask, world: World, name: str, page: str
) -> None:
    # The check runs inside the page's unit of work: one checkout per request, not a
    # unit of its own around a second one.
    path = page.format(w=world)
    client = signed_in_client(app, name)
    checkouts: list[object] = []
    engine = DatabaseManager.database().engine

    def count(*args: object) -> None:
        checkouts.append(args)

    assert client.get(path).status_code == 200
    event.listen(engine, "checkout", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "checkout", count)
    assert len(checkouts) == 1
