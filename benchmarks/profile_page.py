"""Where the time of `/my_courses` goes, in process: the shipped page against hand-written Core.

Seeds a throwaway MariaDB database as benchmarks/web.py does, builds the app with that
benchmark's extra pages (the like-for-like hand-written Core page `core_checked` and the
`ceiling` without SQL) and loads them with Flask's test client as one signed-in student,
one request at a time: no server, no load generator, so the per-request wall and CPU time
of this process are the page's own. `--n` requests per page, in `--rounds` alternating
rounds (medians shown), then `--n` requests of the shipped page under cProfile: the
functions with the most exclusive time, and the cumulative time of studyhall's own
functions, per request. cProfile's microseconds exceed the unprofiled ones; its call
counts are exact and repeatable: `calls/req` is the figure to compare before and after.

Run: `.venv/bin/python -m benchmarks.profile_page [--n 2000] [--rounds 5] [--top 25]`.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from typing import Any

from flask.testing import FlaskClient

from benchmarks.common import machine
from benchmarks.web import (
    SECRET,
    STATELESS,
    VARIANTS,
    add_ceiling_page,
    add_checked_core_page,
    add_core_page,
    bench_database,
)
from studyhall.app import create_app
from studyhall.app.auth import REVOCABLE_SESSIONS, TOKEN_KEY
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager, with_db_session
from studyhall.models import Student, UserRole
from studyhall.services.user_sessions import start_session


@with_db_session
def _first_student() -> int:
    student = Student.get_by(first=True)
    assert student is not None
    return student.id


def clients(settings: DatabaseSettings) -> dict[str, tuple[FlaskClient, str]]:
    """A signed-in test client and path for each variant of benchmarks/web.py."""
    shipped = create_app({"SECRET_KEY": SECRET, "DATABASE_SETTINGS": settings})
    stateless = create_app({"SECRET_KEY": SECRET, REVOCABLE_SESSIONS: False})
    add_checked_core_page(shipped)
    add_core_page(stateless)
    add_ceiling_page(stateless)
    student_id = _first_student()
    token = start_session(student_id)
    found: dict[str, tuple[FlaskClient, str]] = {}
    for name, path in VARIANTS.items():
        app, local = shipped, path
        if path.startswith(STATELESS):
            app, local = stateless, path[len(STATELESS) :]
        client = app.test_client()
        with client.session_transaction() as cookie:
            cookie.update(user_id=student_id, role=UserRole.STUDENT.value, name="bench")
            cookie[TOKEN_KEY] = token
        response = client.get(local)
        assert response.status_code == 200, (name, response.status_code)
        found[name] = (client, local)
    return found


def timed(client: FlaskClient, path: str, n: int) -> tuple[float, float]:
    """Wall and CPU microseconds per request over `n` requests."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        client.get(path)
    return (
        (time.perf_counter() - wall) / n * 1e6,
        (time.process_time() - cpu) / n * 1e6,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with bench_database() as settings:
        DatabaseManager.initialize(settings)
        variants = clients(settings)
        for client, path in variants.values():
            timed(client, path, args.n // 10)  # warm-up
        walls: dict[str, list[float]] = {name: [] for name in variants}
        cpus: dict[str, list[float]] = {name: [] for name in variants}
        for number in range(args.rounds):
            names = list(variants)
            names = names[number % len(names) :] + names[: number % len(names)]
            for name in names:
                wall, cpu = timed(*variants[name], args.n // args.rounds)
                walls[name].append(wall)
                cpus[name].append(cpu)
        print(f"{'variant':<14}{'wall us/req':>12}{'cpu us/req':>12}{'cpu / core_checked':>20}")
        reference = statistics.median(cpus["core_checked"])
        for name in variants:
            cpu = statistics.median(cpus[name])
            print(
                f"{name:<14}{statistics.median(walls[name]):>12.0f}{cpu:>12.0f}"
                f"{cpu / reference:>20.3f}"
            )
        client, path = variants["orm"]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.n):
            client.get(path)
        profiler.disable()
        report(pstats.Stats(profiler), args.n, args.top)
    return 0


def report(stats: pstats.Stats, n: int, top: int) -> None:
    """The top functions by exclusive time, then studyhall's by inclusive time."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = [
        (tottime, cumtime, calls, f"{file.rsplit('site-packages/', 1)[-1]}:{line}({func})")
        for (file, line, func), (_, calls, tottime, cumtime, _) in raw.items()
    ]
    total_calls = sum(calls for _, _, calls, _ in rows)
    print(f"\nshipped /my_courses under cProfile: {total_calls / n:.0f} calls/req")
    print(f"{'excl us/req':>12}{'incl us/req':>12}{'calls/req':>10}  function")
    for tottime, cumtime, calls, name in sorted(rows, reverse=True)[:top]:
        print(f"{tottime / n * 1e6:>12.1f}{cumtime / n * 1e6:>12.1f}{calls / n:>10.1f}  {name}")
    print("\nstudyhall's functions by inclusive time:")
    ours = sorted((r for r in rows if "studyhall/" in r[3]), key=lambda r: -r[1])[:top]
    for tottime, cumtime, calls, name in ours:
        short = name.rsplit("src/", 1)[-1]
        print(f"{tottime / n * 1e6:>12.1f}{cumtime / n * 1e6:>12.1f}{calls / n:>10.1f}  {short}")


if __name__ == "__main__":
    raise SystemExit(main())
