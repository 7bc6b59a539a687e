"""Every page of every role at scale 1 and at scale 500: cost and statements per page.

Two throwaway MariaDB databases get the sample data, one at scale 1 and one at scale 500
(18,000 users, 36,000 enrollments, 101,000 messages). The large one also gets, behind the
same demo users, what a long life on the platform leaves: 10,000 finished study sessions
of student1 (its /history), 10,000 of a child of parent1 (its /family) and a study session
of student1 with 10,000 messages. The small one gets 120 of each instead (a few pages),
and both get 60 more students in manager1's school (a roster of several pages).

The app (`create_app`, Flask test client, signed-in cookies) renders each page in both
databases; the process's database is switched per request batch with
`studyhall.db.default.using`, and the two scales alternate in every round so that the
noise of a shared machine hits both alike. A page's figure is the median of its rounds'
mean request times; its ratio is the median of the per-round ratios (scale 500 / scale 1).
Statements per page are counted with `studyhall.db.recording` at each scale.

Pages: the student's /my_courses, a course, the study session, /history and its next
page; the parent's /family; the manager's /school and its roster's next page (when the
page has one). Links to next pages are read off the pages themselves.

Target (issue 15): every page at scale 500 within 1.5x its scale-1 time, and the same
number of statements at both scales; exits 1 otherwise. /school's counts are kept for a few
seconds (STUDYHALL_SCHOOL_COUNTS_TTL); the row "counts recounted" empties that cache before
each request and is reported beside the target, not in it: a recount reads the school.

Run: `.venv/bin/python -m benchmarks.pages_at_scale [--rounds 9] [--requests 10]`.
MariaDB is reached through STUDYHALL_BENCH_MARIADB_URL (default root@127.0.0.1:3306).
"""

from __future__ import annotations

import argparse
import html
import re
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from benchmarks.common import MARIADB_URL, machine
from studyhall.app import create_app
from studyhall.app.auth import TOKEN_KEY
from studyhall.app.school import clear_school_counts
from studyhall.config import DatabaseSettings
from studyhall.db import default
from studyhall.db.backends import drop_database, ensure_database, refresh_statistics
from studyhall.db.engine import Database
from studyhall.db.recording import record_statements
from studyhall.db.transaction import get_current_session
from studyhall.migrations import create_tables
from studyhall.models import (
    AIAgent,
    Base,
    Enrollment,
    EnrollmentStatus,
    Manager,
    MessageRole,
    Parent,
    SchoolClass,
    SessionKind,
    SessionStatus,
    Student,
    StudySession,
    UserRole,
    parent_students,
)
from studyhall.sample_data import populate
from studyhall.services.user_sessions import start_session

SCALES = (1, 500)
BEHIND = 10_000  # sessions or messages behind the large database's pages
# Behind the small one's: a few pages of each list, so both have a next page to compare.
SMALL_BEHIND = 120
EXTRA_STUDENTS = 60  # in manager1's school, at both scales: a roster of several pages
ROUNDS, REQUESTS = 9, 10
TARGET_RATIO = 1.5
SECRET = "benchmark-secret-" + "x" * 32
T0 = datetime(2020, 1, 1)
SESSIONS = Base.metadata.tables["study_sessions"]
MESSAGES = Base.metadata.tables["study_messages"]
# A link to the next page of a list: keyset (after=, before=) or numbered (page=2).
# Pages read with the app's caches emptied before each request: reported, not in the target
# (issue 15 allows the school's counts a short cache; these rows show what a recount costs).
COLD = "manager /school, counts recounted"
NEXT_LINK = re.compile(r'href="([^"]*[?&](?:after|before|page)=[^"]*)"')


@dataclass(frozen=True)
class People:
    """Who signs in, and the ids their pages need; the same rows at both scales."""

    student: int
    student_name: str
    parent: int
    parent_name: str
    manager: int
    manager_name: str
    course: int
    study_session: int


def bench_settings() -> DatabaseSettings:
    url = make_url(MARIADB_URL).set(database=f"studyhall_bench_{uuid.uuid4().hex[:12]}")
    return DatabaseSettings(url=url, source="DATABASE_URL")


def _finished_rows(student_id: int, unit_id: int, teacher_id: int, count: int) -> list[dict]:
    rows = []
    for n in range(count):
        created = T0 + timedelta(minutes=n)
        rows.append(
            {
                "kind": SessionKind.HOME_HOURS.value,
                "student_id": student_id,
                "learning_unit_id": unit_id,
                "teacher_agent_id": teacher_id,
                "status": SessionStatus.COMPLETED.value,
                "active_student_id": None,
                "started_at": created,
                "ended_at": created + timedelta(minutes=30),
                "duration_seconds": 1800,
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


def _in_batches(table: object, rows: list[dict]) -> None:
    session = get_current_session()
    for start in range(0, len(rows), 5_000):
        session.execute(insert(table), rows[start : start + 5_000])  # type: ignore[arg-type]


def prepare(database: Database, scale: int) -> People:
    """The sample data at `scale`, plus what a long life leaves behind at the large scale."""
    create_tables(database.engine)
    populate(database, scale=scale)
    large = scale > 1
    with default.using(database), database.unit_of_work():
        session = get_current_session()
        student = Student.get_by(email="student1@example.edu", first=True)
        parent = Parent.get_by(email="parent1@example.edu", first=True)
        manager = Manager.get_by(email="manager1@example.edu", first=True)
        teacher = AIAgent.get_by(first=True)
        assert student is not None and parent is not None
        assert manager is not None and teacher is not None
        enrollment = Enrollment.get_by(
            student_id=student.id, status=EnrollmentStatus.ACTIVE, first=True
        )
        assert enrollment is not None, "student1 has no active enrollment"
        course = enrollment.course
        unit = course.units[0]
        child_id = session.scalar(
            select(parent_students.c.student_id)
            .where(parent_students.c.parent_id == parent.id)
            .order_by(parent_students.c.student_id)
            .limit(1)
        )
        assert child_id is not None, "parent1 has no child"
        chat = StudySession.get_by(student_id=student.id, first=True)
        assert chat is not None, "student1 has no study session"
        behind = BEHIND if large else SMALL_BEHIND
        _in_batches(SESSIONS, _finished_rows(student.id, unit.id, teacher.id, behind))
        if child_id != student.id:
            _in_batches(SESSIONS, _finished_rows(child_id, unit.id, teacher.id, behind))
        _in_batches(
            MESSAGES,
            [
                {
                    "study_session_id": chat.id,
                    "role": (MessageRole.STUDENT if n % 2 == 0 else MessageRole.TEACHER).value,
                    "content": f"Message {n} about {unit.title}",
                    "sent_at": T0 + timedelta(seconds=n),
                }
                for n in range(behind)
            ],
        )
        school_class = SchoolClass.get_by(school_id=manager.managed_school_id, first=True)
        assert school_class is not None, "manager1's school has no class"
        for n in range(EXTRA_STUDENTS):
            Student.create(
                email=f"bench.student{n}@example.edu",
                password_hash=student.password_hash,
                first_name=f"Bench{n}",
                last_name="Student",
                school_class_id=school_class.id,
            )
        people = People(
            student=student.id,
            student_name=student.first_name,
            parent=parent.id,
            parent_name=parent.first_name,
            manager=manager.id,
            manager_name=manager.first_name,
            course=course.id,
            study_session=chat.id,
        )
    # As InnoDB's background recount would after this many new rows (populate() did it
    # for the sample data itself).
    refresh_statistics(database.engine, ["study_sessions", "study_messages", "users"])
    return people


@contextmanager
def databases() -> Iterator[list[tuple[Database, People]]]:
    made: list[tuple[DatabaseSettings, Database]] = []
    try:
        prepared = []
        for scale in SCALES:
            settings = bench_settings()
            ensure_database(settings)
            database = Database(settings)
            made.append((settings, database))
            started = time.perf_counter()
            prepared.append((database, prepare(database, scale)))
            print(f"seeded scale {scale} in {time.perf_counter() - started:.0f} s")
        yield prepared
    finally:
        for settings, database in made:
            database.dispose()
            drop_database(settings)


def signed_in(app: Flask, user_id: int, role: UserRole, name: str) -> FlaskClient:
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie.update(user_id=user_id, role=role.value, name=name)
        cookie[TOKEN_KEY] = start_session(user_id)  # in the current default database
    return client


def next_link(client: FlaskClient, path: str) -> str | None:
    """The first link to a further page of a list on `path`, or None."""
    page = client.get(path).get_data(as_text=True)
    match = NEXT_LINK.search(page)
    return html.unescape(match.group(1)) if match else None


def pages(app: Flask, people: People) -> dict[str, tuple[FlaskClient, str]]:
    """Page name -> (signed-in client, path), for one database (its default must be set)."""
    student = signed_in(app, people.student, UserRole.STUDENT, people.student_name)
    parent = signed_in(app, people.parent, UserRole.PARENT, people.parent_name)
    manager = signed_in(app, people.manager, UserRole.MANAGER, people.manager_name)
    found = {
        "student /my_courses": (student, "/my_courses"),
        "student course": (student, f"/courses/{people.course}"),
        "student study session": (student, f"/study_sessions/{people.study_session}"),
        "student /history": (student, "/history"),
        "parent /family": (parent, "/family"),
        "manager /school": (manager, "/school"),
    }
    found[COLD] = found["manager /school"]
    for name in ("student /history", "manager /school", "student study session"):
        client, path = found[name]
        further = next_link(client, path)
        if further is not None:
            found[f"{name}, next page"] = (client, further)
    return found


def check(client: FlaskClient, path: str, cold: bool = False) -> None:
    if cold:
        clear_school_counts(client.application)
    response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}")


def statements(database: Database, client: FlaskClient, path: str, cold: bool) -> int:
    with default.using(database), record_statements(database) as seen:
        check(client, path, cold)
    return seen.count


def timed(database: Database, client: FlaskClient, path: str, cold: bool, requests: int) -> float:
    with default.using(database):
        elapsed = 0.0
        for _ in range(requests):
            if cold:
                clear_school_counts(client.application)
            started = time.perf_counter()
            client.get(path)
            elapsed += time.perf_counter() - started
        return elapsed / requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(
        f"pages at scale {SCALES[0]} and {SCALES[1]} (+{BEHIND:,} sessions / messages behind "
        f"the large one's pages), MariaDB, Flask test client; median of {args.rounds} rounds "
        f"x {args.requests} requests; target <= {TARGET_RATIO}x, same statements"
    )
    with databases() as prepared:
        (small, small_people), (large, large_people) = prepared
        app = create_app({"SECRET_KEY": SECRET, "DATABASE_SETTINGS": small.settings})
        with default.using(small):
            small_pages = pages(app, small_people)
        with default.using(large):
            large_pages = pages(app, large_people)
        names = [name for name in small_pages if name in large_pages]
        missing = sorted(set(small_pages) ^ set(large_pages))
        counts: dict[str, tuple[int, int]] = {}
        for name in names:
            cold = name == COLD
            counts[name] = (
                statements(small, *small_pages[name], cold),
                statements(large, *large_pages[name], cold),
            )
            for database, page in ((small, small_pages[name]), (large, large_pages[name])):
                client, path = page
                with default.using(database):
                    check(client, path)  # warm-up, and every page must answer 200
        seconds: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in names}
        for number in range(args.rounds):
            for name in names if number % 2 == 0 else list(reversed(names)):
                order = ((0, small), (1, large)) if number % 2 == 0 else ((1, large), (0, small))
                for index, database in order:
                    client, path = (small_pages, large_pages)[index][name]
                    seconds[name][index].append(
                        timed(database, client, path, name == COLD, args.requests)
                    )
    width = max(len(name) for name in names) + 2
    print(f"{'page':<{width}} {'scale 1':>9} {'scale 500':>10} {'ratio':>7} {'statements':>11}")
    failed = []
    for name in names:
        one, many = seconds[name]
        ratio = statistics.median(b / a for a, b in zip(one, many, strict=True))
        small_count, large_count = counts[name]
        print(
            f"{name:<{width}} {statistics.median(one) * 1000:>7.2f}ms "
            f"{statistics.median(many) * 1000:>8.2f}ms {ratio:>6.2f}x "
            f"{small_count:>5} / {large_count}"
        )
        if name != COLD and (ratio > TARGET_RATIO or small_count != large_count):
            failed.append(name)
    if missing:
        print(f"pages found at one scale only: {', '.join(missing)}")
        failed += missing
    print("target met" if not failed else f"target NOT met: {', '.join(failed)}")
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
