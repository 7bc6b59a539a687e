"""Who may see what: every rule of the app as one table, on every backend.

A student sees only their own courses and sessions, a parent only their children's, a
manager only their school's counts. Another role's page is 403; someone else's row (or a
missing one) is 404, so ids cannot be probed. Anonymous visitors are sent to the login.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from flask.testing import FlaskClient

from studyhall.config import DatabaseSettings
from tests.app.support import World, login, post

# (user or None, method, path, status, texts that must appear, texts that must not)
RULES: list[tuple[str | None, str, str, int, tuple[str, ...], tuple[str, ...]]] = [
    # Anonymous: to the login page.
    (None, "GET", "/my_courses", 302, (), ()),
    (None, "GET", "/courses/{algebra}", 302, (), ()),
    (None, "GET", "/study_sessions/{a_session}", 302, (), ()),
    (None, "GET", "/history", 302, (), ()),
    (None, "GET", "/family", 302, (), ()),
    (None, "GET", "/school", 302, (), ()),
    (None, "POST", "/study_sessions/{a_session}/end", 302, (), ()),
    # A student: own data only.
    ("alice", "GET", "/my_courses", 200, ("Algebra 1", "Biology"), ("Chemistry",)),
    ("bob", "GET", "/my_courses", 200, ("Algebra 1",), ("Biology", "Chemistry")),
    ("alice", "GET", "/courses/{algebra}", 200, ("Equations part 3",), ("Atoms",)),
    ("alice", "GET", "/courses/{chemistry}", 404, (), ("Atoms",)),
    ("bob", "GET", "/courses/{biology}", 404, (), ("Cells",)),
    ("alice", "GET", "/courses/999999", 404, (), ()),
    ("alice", "GET", "/study_sessions/{a_session}", 200, ("Solid work.",), ()),
    ("alice", "GET", "/study_sessions/{b_session}", 404, (), ("Equations part 2",)),
    ("alice", "GET", "/study_sessions/{c_session}", 404, (), ("Atoms",)),
    ("alice", "GET", "/study_sessions/999999", 404, (), ()),
    ("alice", "GET", "/history", 200, ("Equations part 1", "87"), ("Equations part 2",)),
    ("bob", "GET", "/history", 200, ("Equations part 2",), ("Equations part 1", "87")),
    ("alice", "POST", "/study_sessions/{b_session}/end", 404, (), ()),
    ("alice", "POST", "/study_sessions/{b_session}/cancel", 404, (), ()),
    ("alice", "POST", "/study_sessions/{c_session}/messages", 404, (), ()),
    ("alice", "POST", "/courses/{chemistry}/units/{chemistry_unit}/study_sessions", 404, (), ()),
    ("alice", "POST", "/courses/{algebra}/units/{chemistry_unit}/study_sessions", 404, (), ()),
    # Ids beyond any id column (an INTEGER) are 404 too, never a database error.
    ("alice", "GET", "/courses/2147483648", 404, (), ()),
    ("alice", "GET", "/courses/99999999999999999999", 404, (), ()),
    ("alice", "GET", "/study_sessions/9223372036854775808", 404, (), ()),
    ("alice", "POST", "/study_sessions/99999999999999999999/end", 404, (), ()),
    ("alice", "POST", "/courses/{algebra}/units/99999999999999999999/study_sessions", 404, (), ()),
    ("alice", "GET", "/family", 403, (), ("Carol", "Bob")),
    ("alice", "GET", "/school", 403, (), ("Hillside",)),
    # A parent: their children only, and no student pages.
    (
        "paula",
        "GET",
        "/family",
        200,
        ("Alice", "Algebra 1", "Biology", "Equations part 1", "87"),
        ("Bob", "Carol", "Chemistry", "Equations part 2"),
    ),
    ("quentin", "GET", "/family", 200, ("Carol", "Chemistry", "Atoms"), ("Alice", "Algebra")),
    ("paula", "GET", "/my_courses", 403, (), ("Algebra",)),
    ("paula", "GET", "/courses/{algebra}", 403, (), ("Equations",)),
    ("paula", "GET", "/study_sessions/{a_session}", 403, (), ("Solid work.",)),
    ("paula", "GET", "/history", 403, (), ()),
    ("paula", "POST", "/study_sessions/{a_session}/cancel", 403, (), ()),
    ("paula", "GET", "/school", 403, (), ("Hillside",)),
    # A manager: their school's counts only.
    ("mona", "GET", "/school", 200, ("Hillside School",), ("Riverside",)),
    ("max", "GET", "/school", 200, ("Riverside School",), ("Hillside",)),
    ("nobody", "GET", "/school", 200, ("does not manage a school",), ("Hillside", "Riverside")),
    ("mona", "GET", "/my_courses", 403, (), ("Algebra",)),
    ("mona", "GET", "/family", 403, (), ("Alice",)),
    ("mona", "GET", "/study_sessions/{a_session}", 403, (), ("Solid work.",)),
]


@pytest.mark.parametrize(
    ("user", "method", "path", "status", "present", "absent"),
    RULES,
    ids=[f"{r[0] or 'anonymous'}-{r[1]}-{r[2]}-{r[3]}" for r in RULES],
)
def test_rule(
    shared_client: FlaskClient,
    shared_world: tuple[DatabaseSettings, World],
    user: str | None,
    method: str,
    path: str,
    status: int,
    present: tuple[str, ...],
    absent: tuple[str, ...],
) -> None:
    url = path.format(**dataclasses.asdict(shared_world[1]))
    if user is not None:
        assert login(shared_client, user).status_code == 302
    response = post(shared_client, url) if method == "POST" else shared_client.get(url)
    assert response.status_code == status
    # Without the random CSRF token, which now and then spells a name such as "Bob".
    page = re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))
    if status == 302:
        assert response.location.startswith("/login")
    for text in present:
        assert text in page
    for text in absent:
        assert text not in page
