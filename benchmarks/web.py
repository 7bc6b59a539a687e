"""`/my_courses` under load: as shipped, against hand-written Core pages and a page without SQL.

Seeds a throwaway MariaDB database with the sample data at scale 10, serves the app with
waitress (`--threads`, default 4) in a child process, and lets `--clients` (default 8)
signed-in students, one HTTP/1.1 keep-alive connection each, load the page as fast as they
can: after a 2 s warm-up per variant (not counted), `--seconds` (default 20) per variant,
split into `--rounds` (default 6) rounds that alternate the variants (each round starting
with the next one) so that the noise of a shared machine hits them alike:

  orm        `/my_courses` as shipped: a `@with_db_session` unit of work (an ORM session
             that commits at the end) running `session_course_cards()`, one prebuilt
             SELECT of the student's active courses with their subject names that also
             checks the cookie's server-side session (joined by primary key)
  stateless  the same page in a second app of the same process, mounted at /stateless,
             created with REVOCABLE_SESSIONS=False: the signed cookie is trusted alone, as
             before server-side sessions (a copied cookie outlives logout), so no check
  core_checked  the hand-written page doing the shipped page's work: the same template
             fed by one Core SELECT on a plain pooled connection (`engine.connect()`, no
             ORM session, no unit of work) that also checks the cookie's server-side
             session, joined by primary key as the shipped page does, in the shipped
             app; the cookie is read and the check confirmed with the same helpers
  core       the same template fed by one Core SELECT (users JOIN enrollments JOIN courses
             JOIN subjects) on a plain pooled connection, with no session; in the
             stateless app, since a check there would open a unit of work of its own
  ceiling    the same template in the stateless app, fed by the student's cards read
             once when the server starts: no SQL at all, only the server, the routing,
             the signed cookie and the rendering; what any page of this server costs

Each database variant sends one SELECT per page (a separate check was a second one, and
cost 15%): orm/stateless is the cost of the session check (target: at most 5%, i.e. a
ratio >= 0.95), orm/core_checked the cost of our layer against hand-written Core doing
the same work (target >= 0.97), stateless/core the same without the session check
(target >= 0.80). Prints per variant: requests, requests/s, its share of the ceiling's
requests/s, p50/p99/max latency, errors, SQL statements per request (cursor executions
counted in the server) and the longest wait for a pooled connection; then the throughput
ratios against their targets (the median of the rounds' ratios, beside the ratio of all
requests) and median latency ratios. The settings ask for
a pool of 2 connections; `create_app` raises it to threads x 2 (room for one
`requires_new` level per thread). Last, it loads the ORM page in-process for the first
student, then again after enrolling them in 60 more courses. Exits with status 1 if the
number of statements grew, or if the session check costs more than its target (the
orm/core_checked target is reported as met or missed: the load generator shares this
machine, so a miss of a point or two may be noise; compare medians of several runs).

Run: `.venv/bin/python -m benchmarks.web [--seconds 20] [--rounds 6] [--clients 8]
[--threads 4]`.
MariaDB is reached through STUDYHALL_BENCH_MARIADB_URL (default root@127.0.0.1:3306); the
benchmark creates its own `studyhall_bench_web_<random>` database and drops it at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import multiprocessing
import re
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, has_request_context, render_template, request
from sqlalchemy import bindparam, event, select
from sqlalchemy.engine import make_url
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from benchmarks.common import MARIADB_URL, machine
from studyhall.app import create_app
from studyhall.app.auth import (
    REVOCABLE_SESSIONS,
    TOKEN_KEY,
    claimed_session,
    confirm_signed_in,
    role_required,
    signed_in,
)
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager, with_db_session
from studyhall.db.backends import drop_database, ensure_database
from studyhall.db.recording import record_statements
from studyhall.models import (
    Course,
    Enrollment,
    EnrollmentStatus,
    Student,
    Subject,
    User,
    UserRole,
    UserSession,
    hash_session_token,
)
from studyhall.models.types import utcnow
from studyhall.sample_data import DEMO_PASSWORD
from studyhall.services.user_sessions import start_session

SCALE = 10
STATELESS = "/stateless"
VARIANTS = {
    "orm": "/my_courses",
    "core_checked": "/my_courses_core",
    "stateless": f"{STATELESS}/my_courses",
    "core": f"{STATELESS}/my_courses_core",
    "ceiling": f"{STATELESS}/my_courses_ceiling",
}
# Short rounds, each starting with the next variant: the noise of a shared machine (and
# any drift) falls on every variant alike.
ROUNDS = 6
CHECK_TARGET = 0.95  # orm / stateless throughput: the session check costs at most 5%
CORE_TARGET = 0.80  # stateless / core throughput
HAND_WRITTEN_TARGET = 0.97  # orm / core_checked throughput (issue 16, item 6)
WARMUP_SECONDS = 2.0
SETTINGS_POOL_SIZE = 2  # deliberately below the thread count: create_app must raise it
EXTRA_COURSES = 60
SECRET = "benchmark-secret-" + "x" * 32


# Hand-written Core: the tables themselves. Columns of the mapped classes (`Course.id`)
# would make every execution go through the ORM's compile-state plugin, ~35 us of CPU a
# page that a hand-written page does not pay.
_users, _sessions = User.__table__, UserSession.__table__
_enrollments, _courses, _subjects = Enrollment.__table__, Course.__table__, Subject.__table__


def core_query() -> Any:
    """The whole page in one statement: the student's active courses with subject names."""
    return (
        select(
            _courses.c.id,
            _courses.c.name,
            _courses.c.grade_level,
            _courses.c.description,
            _courses.c.subject_id,
            _subjects.c.name.label("subject_name"),
        )
        .select_from(_users)
        .join(_enrollments, _enrollments.c.student_id == _users.c.id)
        .join(_courses, _courses.c.id == _enrollments.c.course_id)
        .join(_subjects, _subjects.c.id == _courses.c.subject_id)
        .where(
            _users.c.id == bindparam("user_id"),
            _users.c.role == UserRole.STUDENT.value,
            _users.c.is_active.is_(True),
            _enrollments.c.status == EnrollmentStatus.ACTIVE.value,
        )
        .order_by(_courses.c.name, _courses.c.id)
    )


def add_core_page(app: Flask) -> None:
    """`/my_courses_core`: the same template, data from one Core query, no ORM session."""
    query = core_query()

    @role_required(UserRole.STUDENT)
    def my_courses_core() -> str:
        user = signed_in()
        assert user is not None
        with DatabaseManager.database().engine.connect() as conn:
            rows = conn.execute(query, {"user_id": user.user_id}).all()
        subjects = {row.subject_id: row.subject_name for row in rows}
        return render_template("my_courses.html", courses=rows, subjects=subjects)

    app.add_url_rule("/my_courses_core", view_func=my_courses_core)


def checked_core_query() -> Any:
    """`core_query()` that also checks the login session: joined by primary key, live."""
    return (
        core_query()
        .add_columns(_sessions.c.last_seen_at)
        .join(_sessions, _sessions.c.user_id == _users.c.id)
        .where(
            _sessions.c.id == bindparam("session_id"),
            _sessions.c.revoked_at.is_(None),
            _sessions.c.expires_at > bindparam("now"),
        )
    )


def add_checked_core_page(app: Flask) -> None:
    """`/my_courses_core` in the shipped app: the shipped page's work (cookie, session check
    in the page's one SELECT, confirmation) by hand, on a plain pooled Core connection."""
    query = checked_core_query()

    def my_courses_core() -> str:
        claimed = claimed_session()
        # The benchmark's students all have live sessions and active courses: the shipped
        # page's fallback (no row) is not measured, so it is refused here.
        if claimed is None or claimed.user.role != UserRole.STUDENT:
            abort(403)
        parameters = {
            "user_id": claimed.user.user_id,
            "session_id": hash_session_token(claimed.token),
            "now": utcnow(),
        }
        with DatabaseManager.database().engine.connect() as conn:
            rows = conn.execute(query, parameters).all()
        if not rows:
            abort(403)
        confirm_signed_in(claimed, rows[0].last_seen_at)
        subjects = {row.subject_id: row.subject_name for row in rows}
        return render_template("my_courses.html", courses=rows, subjects=subjects)

    app.add_url_rule("/my_courses_core", view_func=my_courses_core)


def add_ceiling_page(app: Flask) -> None:
    """`/my_courses_ceiling`: the same template and cookie check (no SQL with
    REVOCABLE_SESSIONS off), fed by every student's cards read once, now."""
    query = core_query()
    with DatabaseManager.database().engine.connect() as conn:
        students = select(_users.c.id).where(_users.c.role == UserRole.STUDENT.value)
        ids = conn.scalars(students).all()
        cards = {user_id: conn.execute(query, {"user_id": user_id}).all() for user_id in ids}
    pages = {
        user_id: (rows, {row.subject_id: row.subject_name for row in rows})
        for user_id, rows in cards.items()
    }

    @role_required(UserRole.STUDENT)
    def my_courses_ceiling() -> str:
        user = signed_in()
        assert user is not None
        rows, subjects = pages[user.user_id]
        return render_template("my_courses.html", courses=rows, subjects=subjects)

    app.add_url_rule("/my_courses_ceiling", view_func=my_courses_ceiling)


@dataclass
class ServerStats:
    """What the server counted: requests and statements per path, the longest pool wait."""

    requests: Counter[str] = field(default_factory=Counter)
    statements: Counter[str] = field(default_factory=Counter)
    max_checkout_wait: float = 0.0
    checkouts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "statements": dict(self.statements),
                "max_checkout_wait": self.max_checkout_wait,
                "checkouts": self.checkouts,
            }

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.statements.clear()
            self.max_checkout_wait, self.checkouts = 0.0, 0


def instrument(apps: list[Flask], stats: ServerStats) -> None:
    """Count requests and cursor executions per path (with the app's mount point), and time
    every pool checkout."""
    engine = DatabaseManager.database().engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*args: Any) -> None:
        if has_request_context():
            with stats.lock:
                stats.statements[request.script_root + request.path] += 1

    def _request(response: Any) -> Any:
        with stats.lock:
            stats.requests[request.script_root + request.path] += 1
        return response

    for app in apps:
        app.after_request(_request)

    pool: Any = engine.pool
    original = pool._do_get  # the checkout proper: where a thread queues for a connection

    def timed_get() -> Any:
        started = time.perf_counter()
        try:
            return original()
        finally:
            waited = time.perf_counter() - started
            with stats.lock:
                stats.checkouts += 1
                stats.max_checkout_wait = max(stats.max_checkout_wait, waited)

    pool._do_get = timed_get


def serve(url: str, threads: int, pipe: Connection) -> None:
    """Child process: run the app under waitress, answer 'reset', 'stats' and 'stop'."""
    import logging

    from waitress.server import create_server  # type: ignore[import-untyped]

    # "Task queue depth is N" is expected: 8 clients, 4 threads.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)

    settings = DatabaseSettings(
        url=make_url(url), source="DATABASE_URL", pool_size=SETTINGS_POOL_SIZE, max_overflow=0
    )
    config = {"SECRET_KEY": SECRET, "STUDYHALL_THREADS": threads, "DATABASE_SETTINGS": settings}
    app = create_app(config)
    # The same pages on the same database and pool, trusting the signed cookie alone.
    # No DATABASE_SETTINGS: the manager is initialized (with the pool create_app sized).
    stateless = create_app(
        {"SECRET_KEY": SECRET, "STUDYHALL_THREADS": threads, REVOCABLE_SESSIONS: False}
    )
    add_checked_core_page(app)
    add_core_page(stateless)
    add_ceiling_page(stateless)
    stats = ServerStats()
    instrument([app, stateless], stats)
    both = DispatcherMiddleware(app, {STATELESS: stateless})
    server: Any = create_server(both, host="127.0.0.1", port=0, threads=threads)
    threading.Thread(target=server.run, daemon=True).start()
    pool_size = DatabaseManager.database().engine.pool.size()  # type: ignore[attr-defined]
    pipe.send({"port": server.effective_port, "pool_size": pool_size})
    while True:
        command = pipe.recv()
        if command == "reset":
            stats.reset()
            pipe.send("ok")
        elif command == "stats":
            pipe.send(stats.snapshot())
        else:
            pipe.send("bye")
            return


class Client:
    """One signed-in student on one keep-alive connection."""

    def __init__(self, port: int, email: str) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""
        self.sign_in(email)

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read().decode()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, data

    def sign_in(self, email: str) -> None:
        _, page = self.request("GET", "/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "no CSRF field on the login page"
        form = urlencode({"csrf_token": match.group(1), "email": email, "password": DEMO_PASSWORD})
        status, _ = self.request("POST", "/login", form)
        assert status == 302, f"login of {email} failed with {status}"

    def load(self, path: str, until: float, latencies: list[float], errors: list[str]) -> None:
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                status, _ = self.request("GET", path)
            except (OSError, http.client.HTTPException) as exc:
                errors.append(type(exc).__name__)
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(str(status))


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    statements: int = 0
    requests: int = 0
    max_checkout_wait: float = 0.0
    rates: list[float] = field(default_factory=list)  # requests/s of each round


def run_round(clients: list[Client], path: str, seconds: float, result: Result) -> None:
    until = time.perf_counter() + seconds
    started, before = time.perf_counter(), len(result.latencies)
    threads = [
        threading.Thread(target=c.load, args=(path, until, result.latencies, result.errors))
        for c in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    result.seconds += elapsed
    result.rates.append((len(result.latencies) - before) / elapsed)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


@contextlib.contextmanager
def bench_database() -> Iterator[DatabaseSettings]:
    """A new MariaDB database with the sample data at SCALE, dropped afterwards."""
    name = f"studyhall_bench_web_{uuid.uuid4().hex[:8]}"
    settings = DatabaseSettings(
        url=make_url(MARIADB_URL).set(database=name), source="DATABASE_URL"
    )
    ensure_database(settings)
    try:
        DatabaseManager.initialize(settings)
        DatabaseManager.create_tables()
        summary = DatabaseManager.populate_sample_data(scale=SCALE)
        print(f"seeded {name}: scale {SCALE}, {summary.total_rows:,} rows")
        DatabaseManager.cleanup()
        yield settings
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)


def statements_by_course_count(settings: DatabaseSettings) -> dict[int, int]:
    """Statements of one ORM `/my_courses` for a student with a few, then every, course."""
    app = create_app({"SECRET_KEY": SECRET, "DATABASE_SETTINGS": settings})

    @with_db_session
    def first_student() -> int:
        student = Student.get_by(first=True)
        assert student is not None
        return student.id

    @with_db_session
    def enroll_in_more_courses(student_id: int, count: int) -> None:
        model = Course.get_by(first=True)
        assert model is not None
        for number in range(count):
            course = Course.create(
                school_id=model.school_id,
                subject_id=model.subject_id,
                name=f"Extra course {number}",
                grade_level=model.grade_level,
            )
            Enrollment.create(student_id=student_id, course_id=course.id)

    student_id = first_student()
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie.update(user_id=student_id, role=UserRole.STUDENT.value, name="bench")
        cookie[TOKEN_KEY] = start_session(student_id)

    def measure() -> tuple[int, int]:
        with record_statements() as seen:
            page = client.get("/my_courses").get_data(as_text=True)
        return page.count('<li class="card">'), seen.count

    counts = dict([measure()])
    enroll_in_more_courses(student_id, EXTRA_COURSES)
    counts.update([measure()])
    DatabaseManager.cleanup()
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        help="measured load time per variant, over all rounds",
    )
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help="rounds that alternate the variants"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=4, help="waitress threads")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    with bench_database() as settings:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        url = settings.url.render_as_string(hide_password=False)
        server = context.Process(target=serve, args=(url, args.threads, child), daemon=True)
        server.start()
        try:
            info = parent.recv()
            print(
                f"waitress: {args.threads} threads, pool: {SETTINGS_POOL_SIZE} in the settings"
                f" -> {info['pool_size']} after create_app, clients: {args.clients}"
            )
            clients = [
                Client(info["port"], f"student{n}@example.edu") for n in range(1, args.clients + 1)
            ]
            results = {name: Result() for name in VARIANTS}
            for path in VARIANTS.values():  # warm-up, not counted
                run_round(clients, path, WARMUP_SECONDS, Result())
            names = list(VARIANTS)
            for number in range(args.rounds):
                shift = number % len(names)
                for name in itertools.islice(itertools.cycle(names), shift, shift + len(names)):
                    path = VARIANTS[name]
                    parent.send("reset")
                    parent.recv()
                    result = results[name]
                    run_round(clients, path, args.seconds / args.rounds, result)
                    parent.send("stats")
                    stats = parent.recv()
                    result.requests += stats["requests"].get(path, 0)
                    result.statements += stats["statements"].get(path, 0)
                    result.max_checkout_wait = max(
                        result.max_checkout_wait, stats["max_checkout_wait"]
                    )
            parent.send("stop")
            parent.recv()
        finally:
            server.join(timeout=5)
            if server.is_alive():
                server.terminate()
        check_ratio = report(results)
        counts = statements_by_course_count(settings)
    shown = ", ".join(f"{courses} courses: {n}" for courses, n in sorted(counts.items()))
    print(f"ORM /my_courses statements by number of courses: {shown}")
    failed = False
    if len(set(counts.values())) > 1:
        print("FAILED: the ORM page sends more statements when the student has more courses")
        failed = True
    if check_ratio < CHECK_TARGET:
        print(f"FAILED: the session check costs more than {1 - CHECK_TARGET:.0%} of throughput")
        failed = True
    return 1 if failed else 0


def report(results: dict[str, Result]) -> float:
    """Print the table and the ratios; return orm / stateless throughput."""

    def throughput(r: Result) -> float:
        return len(r.latencies) / r.seconds if r.seconds else 0.0

    ceiling = throughput(results["ceiling"])
    header = (
        f"{'variant':<14}{'requests':>9}{'req/s':>8}{'/ceiling':>9}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'max ms':>8}{'errors':>7}{'stmt/req':>9}{'max pool wait ms':>17}"
    )
    print(header)
    for name, r in results.items():
        per_request = r.statements / r.requests if r.requests else 0.0
        share = throughput(r) / ceiling if ceiling else 0.0
        print(
            f"{name:<14}{len(r.latencies):>9}{throughput(r):>8.1f}{share:>9.3f}"
            f"{percentile(r.latencies, 0.50) * 1000:>8.1f}"
            f"{percentile(r.latencies, 0.99) * 1000:>8.1f}"
            f"{max(r.latencies, default=0.0) * 1000:>8.1f}"
            f"{len(r.errors):>7}{per_request:>9.2f}{r.max_checkout_wait * 1000:>17.2f}"
        )
        if r.errors:
            print(f"  errors of {name}: {Counter(r.errors).most_common(5)}")

    def ratios(a: str, b: str, target: float, what: str) -> float:
        first, second = results[a], results[b]
        # Per round, then the median: within a round the variants run back to back, so
        # a burst of another process's load spoils a round or two, not the figure.
        ratio = statistics.median(x / y for x, y in zip(first.rates, second.rates, strict=True))
        overall = throughput(first) / throughput(second)
        verdict = "meets" if ratio >= target else "MISSES"
        print(
            f"{a} / {b} throughput: {ratio:.3f} ({verdict} target >= {target}: {what}; "
            f"median of {len(first.rates)} rounds, all requests {overall:.3f})"
        )
        medians = statistics.median(first.latencies) / statistics.median(second.latencies)
        print(f"{a} / {b} median latency: {medians:.3f}")
        return ratio

    check = ratios("orm", "stateless", CHECK_TARGET, "the cost of the session check")
    ratios("orm", "core_checked", HAND_WRITTEN_TARGET, "shipped vs hand-written, like for like")
    ratios("stateless", "core", CORE_TARGET, "the same without the session check")
    return check


if __name__ == "__main__":
    raise SystemExit(main())
