"""The "my courses" page: 200 students with their 5 active courses each.

Loads the same page data (each student's active course ids, by course name) four ways,
each in its own unit of work (`DatabaseManager.get_session()`), as a page request would,
on SQLite and MariaDB in one process:

  (a) lazy: `Student.get_by()`, then `student.get_courses()` per student (N + 1 queries)
  (b) ORM objects: `Student.list_with_courses()`, reading `student.courses` (selectinload)
  (c) read rows: `student_courses()`, the project's helper for such pages
  (d) baseline: one hand-written JOIN in SQLAlchemy Core, grouped per student

Every variant's result is checked equal to (d)'s before timing. Variants alternate in
rounds so that a noisy machine hits each alike; the time ratio to (d) is the median of
the per-round ratios. Statements are counted with `studyhall.db.recording` in
a separate pass (BEGIN is not counted). Exits 1 when (c) misses the target.

Run: `.venv/bin/python -m benchmarks.my_courses [--rounds 15] [--backends sqlite,mariadb]`.
MariaDB is reached through STUDYHALL_BENCH_MARIADB_URL (default root@127.0.0.1:3306); the
benchmark creates its own `studyhall_bench_<random>` database and drops it at the end.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import URL, make_url

from benchmarks.common import MARIADB_URL
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager, get_current_session
from studyhall.db.backends import drop_database, ensure_database
from studyhall.db.recording import record_statements
from studyhall.models import (
    Course,
    Enrollment,
    EnrollmentStatus,
    School,
    Student,
    Subject,
    User,
    UserRole,
)
from studyhall.models.types import utcnow
from studyhall.queries import StudentCourses, student_courses

STUDENTS, ENROLLMENTS, COURSES = 200, 5, 20
ROUNDS, LOADS_PER_ROUND = 15, 10
TARGET_RATIO, TARGET_STATEMENTS = 1.5, 2


def populate() -> None:
    """200 students, each actively enrolled in 5 of 20 courses and dropped from a 6th."""
    session = get_current_session()
    now = utcnow()
    school = School.create(name="Bench school")
    subject = Subject.create(name="Bench subject")
    session.execute(
        insert(Course),
        [
            {
                "school_id": school.id,
                "subject_id": subject.id,
                "name": f"Course {n:02d}",
                "grade_level": 7,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(COURSES)
        ],
    )
    session.execute(
        insert(User),
        [
            {
                "role": UserRole.STUDENT,
                "email": f"s{n}@bench.example",
                "password_hash": "-",
                "first_name": f"S{n}",
                "last_name": "Bench",
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(STUDENTS)
        ],
    )
    students = session.scalars(select(User.id).order_by(User.id)).all()
    courses = session.scalars(select(Course.id).order_by(Course.id)).all()
    rows = []
    for n, student_id in enumerate(students):
        for k in range(ENROLLMENTS + 1):
            status = EnrollmentStatus.ACTIVE if k < ENROLLMENTS else EnrollmentStatus.DROPPED
            rows.append(
                {
                    "student_id": student_id,
                    "course_id": courses[(n + k) % COURSES],
                    "status": status,
                    "enrolled_at": now,
                }
            )
    session.execute(insert(Enrollment), rows)


# What the page shows: (student id, [course id, ...]) per student. Loaders return their
# natural result; the check pass converts it to a Page, outside the timed loop.
Page = list[tuple[int, list[int]]]


def load_lazy() -> list[tuple[Student, list[Course]]]:
    with DatabaseManager.get_session():
        return [(student, student.get_courses()) for student in Student.get_by()]


def load_objects() -> list[Student]:
    with DatabaseManager.get_session():
        return Student.list_with_courses()


def load_overview() -> list[StudentCourses]:
    with DatabaseManager.get_session():
        return student_courses()


def load_join() -> dict[int, list[tuple[int, str]]]:
    users, enrollments, courses = User.__table__, Enrollment.__table__, Course.__table__
    query = (
        select(users.c.id, users.c.first_name, users.c.last_name, courses.c.id, courses.c.name)
        .join_from(users, enrollments, enrollments.c.student_id == users.c.id)
        .join(courses, courses.c.id == enrollments.c.course_id)
        .where(
            users.c.role == UserRole.STUDENT.value,
            enrollments.c.status == EnrollmentStatus.ACTIVE.value,
        )
        .order_by(users.c.id, courses.c.name, courses.c.id)
    )
    with DatabaseManager.get_session() as session:
        page: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for student_id, _first, _last, course_id, name in session.execute(query):
            page[student_id].append((course_id, name))
        return page


BASELINE = "(d) hand-written Core JOIN"
HELPER = "(c) student_courses()"
VARIANTS: dict[str, tuple[Callable[[], Any], Callable[[Any], Page]]] = {
    "(a) lazy: get_courses() each": (
        load_lazy,
        lambda rows: [(s.id, [c.id for c in cs]) for s, cs in rows],
    ),
    "(b) Student.list_with_courses()": (
        load_objects,
        lambda rows: [(s.id, [c.id for c in s.courses]) for s in rows],
    ),
    HELPER: (
        load_overview,
        lambda rows: [(r.student_id, [c.id for c in r.courses]) for r in rows],
    ),
    BASELINE: (load_join, lambda page: [(k, [c for c, _ in v]) for k, v in page.items()]),
}


def measure(rounds: int) -> dict[str, tuple[int, float, float]]:
    """Per variant: statements per load, milliseconds per load, ratio to the baseline."""
    engine = DatabaseManager.database().engine
    load_baseline, as_page = VARIANTS[BASELINE]
    expected = as_page(load_baseline())
    if len(expected) != STUDENTS or any(len(ids) != ENROLLMENTS for _, ids in expected):
        raise RuntimeError("The benchmark data is not 200 students x 5 active courses.")
    statements: dict[str, int] = {}
    for name, (load, as_page) in VARIANTS.items():
        with record_statements(engine) as issued:
            page = as_page(load())
        if page != expected:
            raise RuntimeError(f"{name} loaded other courses than the hand-written JOIN.")
        statements[name] = issued.count
    seconds: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, (load, _) in VARIANTS.items():
            started = time.perf_counter()
            for _ in range(LOADS_PER_ROUND):
                load()
            seconds[name].append((time.perf_counter() - started) / LOADS_PER_ROUND)
    results = {}
    for name in VARIANTS:
        ratios = [mine / base for mine, base in zip(seconds[name], seconds[BASELINE], strict=True)]
        median_ms = statistics.median(seconds[name]) * 1000
        results[name] = (statements[name], median_ms, statistics.median(ratios))
    return results


def settings_for(backend: str, workdir: Path) -> DatabaseSettings:
    name = f"studyhall_bench_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        url = URL.create("sqlite+pysqlite", database=str(workdir / f"{name}.sqlite3"))
    else:
        url = make_url(MARIADB_URL).set(database=name)
    return DatabaseSettings(url=url, source="DATABASE_URL")


def run_backend(backend: str, rounds: int, workdir: Path) -> dict[str, tuple[int, float, float]]:
    settings = settings_for(backend, workdir)
    ensure_database(settings)
    try:
        DatabaseManager.initialize(settings)
        DatabaseManager.create_tables()
        with DatabaseManager.get_session():
            populate()
        return measure(rounds)
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--backends", default="sqlite,mariadb")
    args = parser.parse_args(argv)
    print(
        f"my courses: {STUDENTS} students x {ENROLLMENTS} active enrollments, "
        f"median of {args.rounds} rounds x {LOADS_PER_ROUND} loads; "
        f"target: (c) <= {TARGET_RATIO}x (d) with <= {TARGET_STATEMENTS} statements"
    )
    print(f"{'backend':<8} {'variant':<34} {'statements':>10} {'ms/load':>9} {'vs (d)':>7}")
    failed = False
    with tempfile.TemporaryDirectory() as workdir:
        for backend in args.backends.split(","):
            results = run_backend(backend.strip(), args.rounds, Path(workdir))
            for name, (statements, ms, ratio) in results.items():
                print(f"{backend:<8} {name:<34} {statements:>10} {ms:>9.2f} {ratio:>6.2f}x")
            statements, _, ratio = results[HELPER]
            failed |= ratio > TARGET_RATIO or statements > TARGET_STATEMENTS
    print("target met" if not failed else "target NOT met")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
