"""/school: the manager's counts, cached a few seconds, and their students in numbered pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from studyhall.app import create_app
from studyhall.app.school import ROSTER_PAGE, clear_school_counts
from studyhall.database import DatabaseManager
from studyhall.db import default
from studyhall.db.backends import ensure_database
from studyhall.db.engine import Database
from studyhall.db.recording import record_statements
from studyhall.migrations import create_tables
from studyhall.models import SchoolClass, Student
from tests.app.support import FAST_HASH, World, login, make_world, user_email
from tests.conftest import throwaway_settings

MORE = ROSTER_PAGE + 3  # school one has alice, bob and idle already: two pages


def add_students(count: int, class_name: str = "7A", prefix: str = "pupil") -> None:
    with DatabaseManager.get_session():
        school_class = SchoolClass.get_by(name=class_name, first=True)
        assert school_class is not None
        for n in range(count):
            Student.create(
                email=user_email(f"{prefix}{n}"),
                password_hash=FAST_HASH,
                first_name=f"{prefix.capitalize()}{n:02}",
                last_name="Roster",
                school_class=school_class,
            )


def roster(page: str) -> list[str]:
    """The e-mail addresses in the roster, in page order."""
    return re.findall(r"<td>([a-z0-9]+@example\.edu)</td>", page)


def students_count(page: str) -> int:
    found = re.search(r"<dt>Students</dt><dd>(\d+)</dd>", page)
    assert found, "no student count on the page"
    return int(found[1])


def test_the_roster_pages_through_every_student_of_the_school_once(
    client: FlaskClient, world: World
) -> None:
    add_students(MORE)
    login(client, "mona")
    first = client.get("/school").get_data(as_text=True)
    shown = roster(first)
    assert len(shown) == ROSTER_PAGE
    assert "Page 1 of 2" in first and 'href="/school?page=2">Next' in first
    assert "Previous" not in first

    second = client.get("/school?page=2").get_data(as_text=True)
    rest = roster(second)
    assert len(rest) == MORE + 3 - ROSTER_PAGE
    assert "Page 2 of 2" in second and 'href="/school?page=1">Previous' in second
    assert "Next" not in second

    everyone = shown + rest
    expected = {user_email(n) for n in ("alice", "bob", "idle")}
    expected |= {user_email(f"pupil{n}") for n in range(MORE)}
    assert len(everyone) == len(expected) and set(everyone) == expected  # carol is school two's
    # By class, then last name, then first name: the Rosters before the Testers.
    assert everyone[:MORE] == [user_email(f"pupil{n}") for n in range(MORE)]


def test_the_roster_shows_name_and_class(client: FlaskClient, world: World) -> None:
    login(client, "mona")
    page = client.get("/school").get_data(as_text=True)
    row = re.search(
        r"<tr>\s*<td>Alice Tester</td>\s*<td>7A</td>\s*<td>alice@example\.edu</td>", page
    )
    assert row, page


@pytest.mark.parametrize(
    ("query", "status", "rows"),
    [
        ("", 200, 3),
        ("?page=1", 200, 3),
        ("?page=abc", 200, 3),  # not a number: the first page, as Flask-SQLAlchemy does
        ("?page=2", 404, 0),  # beyond the last page
        ("?page=0", 404, 0),
        ("?page=-1", 404, 0),
        ("?page=99999999999999999999999", 404, 0),
        ("?per_page=2", 200, 2),
        ("?per_page=2&page=2", 200, 1),
        ("?per_page=0", 404, 0),
        ("?per_page=100000", 200, 3),  # capped
    ],
)
def test_page_numbers_out_of_range_are_404(
    client: FlaskClient, world: World, query: str, status: int, rows: int
) -> None:
    login(client, "mona")
    response = client.get(f"/school{query}")
    assert response.status_code == status
    if status == 200:
        assert len(roster(response.get_data(as_text=True))) == rows


def test_a_manager_without_a_school_has_no_roster(client: FlaskClient, world: World) -> None:
    login(client, "nobody")
    page = client.get("/school").get_data(as_text=True)
    assert "does not manage a school" in page and roster(page) == []


def test_the_counts_are_kept_for_the_ttl_and_cleared_on_demand(
    client: FlaskClient, world: World
) -> None:
    login(client, "mona")
    first = client.get("/school").get_data(as_text=True)
    assert students_count(first) == 3
    assert re.search(r"Counts as of \d\d:\d\d:\d\d UTC", first)
    with record_statements() as hit:
        client.get("/school")
    add_students(2)

    cached = client.get("/school").get_data(as_text=True)
    assert students_count(cached) == 3  # stale within the TTL, as documented
    assert len(roster(cached)) == 5  # the roster itself is never cached

    clear_school_counts(client.application)
    with record_statements() as counted:
        fresh = client.get("/school").get_data(as_text=True)
    assert students_count(fresh) == 5
    assert len(counted.statements) > len(hit.statements)  # the hit read no counts


@pytest.fixture
def uncached(world: World) -> Flask:
    return create_app(
        {"TESTING": True, "SECRET_KEY": "test-secret", "STUDYHALL_SCHOOL_COUNTS_TTL": 0}
    )


def test_a_ttl_of_zero_counts_on_every_request(uncached: Flask) -> None:
    client = uncached.test_client()
    login(client, "mona")
    assert students_count(client.get("/school").get_data(as_text=True)) == 3
    add_students(2)
    assert students_count(client.get("/school").get_data(as_text=True)) == 5


def test_the_last_page_is_known_from_the_roster_even_when_the_count_is_stale(
    client: FlaskClient, world: World
) -> None:
    add_students(MORE)
    login(client, "mona")
    assert "Page 1 of 2" in client.get("/school").get_data(as_text=True)
    with DatabaseManager.get_session():  # most pupils move to school two: one page left
        other = SchoolClass.get_by(name="8B", first=True)
        assert other is not None
        for student in Student.get_by(last_name="Roster")[5:]:
            student.school_class_id = other.id

    page = client.get("/school").get_data(as_text=True)
    assert students_count(page) == MORE + 3  # the cached count, stale within the TTL
    assert "Page 1 of 1" in page and "Next" not in page


def test_counts_are_cached_per_database(client: FlaskClient, world: World, tmp_path: Path) -> None:
    # A process that switches databases (tests, benchmarks) never sees another's counts.
    login(client, "mona")
    assert students_count(client.get("/school").get_data(as_text=True)) == 3
    settings = throwaway_settings("sqlite", tmp_path)
    ensure_database(settings)
    other = Database(settings)
    try:
        with default.using(other):
            create_tables(other.engine)
            with DatabaseManager.get_session():
                make_world()
            add_students(4)
            # Sessions live in their database too: sign in to this one as well.
            elsewhere = client.application.test_client()
            login(elsewhere, "mona")
            assert students_count(elsewhere.get("/school").get_data(as_text=True)) == 7
        assert students_count(client.get("/school").get_data(as_text=True)) == 3
    finally:
        other.dispose()
