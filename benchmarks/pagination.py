"""Keyset vs offset pages of a long history: page 1 and page 1,000, on MariaDB.

The sample data at scale 100, plus 25,000 finished study sessions of one student (Core
inserts; created_at shared by pairs of rows, so the primary key breaks ties). Two page
queries, newest first, 20 a page, each page in its own unit of work
(`DatabaseManager.get_session()`): "finished" (the history page: that student's completed
or cancelled sessions) and "all" (every session of that student).

  offset:  StudySession.page(page=N, per_page=20, order_by="-created_at", **filters)
  keyset:  StudySession.keyset_page(after=cursor, per_page=20, order_by="-created_at", ...)

Keyset page 1,000 continues after the cursor of page 999 (found once, before timing); its
rows are checked equal to offset page 1,000's. Timed with the schema's indexes, twice:
as studyhall sends the pages (on MySQL / MariaDB they name the index that serves their
filter and order, `FORCE INDEX (ix_study_sessions_student_id_created_at)`), and with that
hint turned off (the optimizer's own choice) for comparison. Variants alternate in rounds;
figures are medians of the rounds; the page 1,000 / page 1 ratio is the median of the
per-round ratios. Exits 1 when keyset's "finished" ratio as studyhall sends it is above 1.2.

Seen on MariaDB 10.11 without the hint: for ORDER BY created_at DESC, id DESC the optimizer
picks a `ref` scan on student_id (EXPLAIN: key_len 4) instead of the range the keyset
condition allows, so it walks every row newer than the cursor; with the hint it reads the
range (key_len 13) and the cost is flat.

Run: `.venv/bin/python -m benchmarks.pagination [--rounds 15] [--sessions 25000]`.
MariaDB is reached through STUDYHALL_BENCH_MARIADB_URL (default root@127.0.0.1:3306); the
benchmark creates its own `studyhall_bench_<random>` database and drops it at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from benchmarks.common import MARIADB_URL, machine
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager, get_current_session
from studyhall.db.backends import drop_database, ensure_database
from studyhall.models import (
    AIAgent,
    Base,
    LearningUnit,
    SessionKind,
    SessionStatus,
    Student,
    StudySession,
    pagination,
)
from studyhall.sample_data import populate

SCALE, SESSIONS, PER_PAGE, DEEP_PAGE = 100, 25_000, 20, 1_000
ROUNDS, LOADS_PER_ROUND = 15, 5
TARGET_RATIO = 1.2
FINISHED = [SessionStatus.COMPLETED, SessionStatus.CANCELLED]
# (label, whether pages name their index); the target applies to the first.
HINTS = (("schema indexes, as studyhall sends it", True), ("schema indexes, no hint", False))
T0 = datetime(2020, 1, 1)
WIDTH = 50
SESSIONS_TABLE = Base.metadata.tables["study_sessions"]


def add_history(sessions: int) -> int:
    """`sessions` finished sessions of student1, inserted with Core; the student's id."""
    session = get_current_session()
    student = Student.get_by(email="student1@example.edu", first=True)
    unit = LearningUnit.get_by(first=True)
    teacher = AIAgent.get_by(first=True)
    if student is None or unit is None or teacher is None:
        raise RuntimeError("The sample data has no student1, learning unit or agent.")
    rows = []
    for n in range(sessions):
        created = T0 + timedelta(minutes=n // 2)
        rows.append(
            {
                "kind": SessionKind.HOME_HOURS.value,
                "student_id": student.id,
                "learning_unit_id": unit.id,
                "teacher_agent_id": teacher.id,
                "status": FINISHED[n % 2].value,
                "active_student_id": None,
                "started_at": created,
                "ended_at": created + timedelta(minutes=30),
                "duration_seconds": 1800,
                "created_at": created,
                "updated_at": created,
            }
        )
    for start in range(0, len(rows), 5_000):
        session.execute(insert(SESSIONS_TABLE), rows[start : start + 5_000])
    return student.id


def deep_cursor(filters: dict[str, Any]) -> str:
    """The cursor after page DEEP_PAGE - 1 (pages of 100 as far as they go, then of 20)."""
    before = (DEEP_PAGE - 1) * PER_PAGE
    cursor, read = None, 0
    with DatabaseManager.get_session():
        while read < before:
            size = 100 if before - read >= 100 else PER_PAGE
            page = StudySession.keyset_page(
                after=cursor, per_page=size, order_by="-created_at", **filters
            )
            read += len(page.items)
            cursor = page.next_cursor
            if cursor is None:
                raise RuntimeError(f"The history has fewer than {before} rows.")
    if cursor is None:
        raise RuntimeError("No cursor: DEEP_PAGE must be 2 or more.")
    return cursor


def variants(filters: dict[str, Any], cursor: str) -> dict[str, Callable[[], list[int]]]:
    def offset(number: int) -> Callable[[], list[int]]:
        def load() -> list[int]:
            with DatabaseManager.get_session():
                page = StudySession.page(
                    page=number, per_page=PER_PAGE, order_by="-created_at", **filters
                )
                return [row.id for row in page.items]

        return load

    def keyset(after: str | None) -> Callable[[], list[int]]:
        def load() -> list[int]:
            with DatabaseManager.get_session():
                page = StudySession.keyset_page(
                    after=after, per_page=PER_PAGE, order_by="-created_at", **filters
                )
                return [row.id for row in page.items]

        return load

    return {
        "offset p1": offset(1),
        f"offset p{DEEP_PAGE}": offset(DEEP_PAGE),
        "keyset p1": keyset(None),
        f"keyset p{DEEP_PAGE}": keyset(cursor),
    }


def measure(loads: dict[str, Callable[[], list[int]]], rounds: int) -> dict[str, list[float]]:
    """Seconds per load of each variant, one figure per round."""
    if (
        loads["keyset p1"]() != loads["offset p1"]()
        or loads[f"keyset p{DEEP_PAGE}"]() != loads[f"offset p{DEEP_PAGE}"]()
        or len(loads[f"keyset p{DEEP_PAGE}"]()) != PER_PAGE
    ):
        raise RuntimeError("Keyset and offset pages hold different rows.")
    seconds: dict[str, list[float]] = {name: [] for name in loads}
    for number in range(rounds):
        names = list(loads) if number % 2 == 0 else list(reversed(loads))
        for name in names:
            started = time.perf_counter()
            for _ in range(LOADS_PER_ROUND):
                loads[name]()
            seconds[name].append((time.perf_counter() - started) / LOADS_PER_ROUND)
    return seconds


def report(label: str, seconds: dict[str, list[float]]) -> float:
    """Print medians and ratios; return keyset's page DEEP_PAGE / page 1 ratio."""

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(seconds[a], seconds[b], strict=True))

    ms = {name: statistics.median(values) * 1000 for name, values in seconds.items()}
    deep = f"p{DEEP_PAGE}"
    keyset, offset = ratio(f"keyset {deep}", "keyset p1"), ratio(f"offset {deep}", "offset p1")
    print(
        f"{label:<{WIDTH}} {ms['keyset p1']:>8.2f} {ms[f'keyset {deep}']:>8.2f} {keyset:>6.2f}x"
        f" {ms['offset p1']:>8.2f} {ms[f'offset {deep}']:>8.2f} {offset:>7.2f}x"
    )
    return keyset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    args = parser.parse_args(argv)
    if args.sessions < DEEP_PAGE * PER_PAGE:
        parser.error(f"--sessions must be at least {DEEP_PAGE * PER_PAGE} for page {DEEP_PAGE}")
    print(f"machine: {machine()}")
    print(
        f"history pages of {PER_PAGE}: sample data at scale {SCALE} + {args.sessions:,} finished "
        f"sessions of one student; median of {args.rounds} rounds x {LOADS_PER_ROUND} loads, "
        f"ms per page; target: keyset p{DEEP_PAGE}/p1 <= {TARGET_RATIO} with the index"
    )
    settings = DatabaseSettings(
        url=make_url(MARIADB_URL).set(database=f"studyhall_bench_{uuid.uuid4().hex[:12]}"),
        source="DATABASE_URL",
    )
    ensure_database(settings)
    try:
        DatabaseManager.initialize(settings)
        DatabaseManager.create_tables()
        populate(DatabaseManager.database(), scale=SCALE)
        with DatabaseManager.get_session():
            student_id = add_history(args.sessions)
        # The history page (finished sessions), and every session of the student.
        shapes: dict[str, dict[str, Callable[[], list[int]]]] = {}
        for shape, filters in (
            ("finished", {"student_id": student_id, "status": FINISHED}),
            ("all", {"student_id": student_id}),
        ):
            shapes[shape] = variants(filters, deep_cursor(filters))
        deep = f"p{DEEP_PAGE}"
        print(f"{'mariadb: index, rows':<{WIDTH}} {'keyset':>8} {'':>8} {'ratio':>7}", end="")
        print(f" {'offset':>8} {'':>8} {'ratio':>8}")
        print(f"{'':<{WIDTH}} {'p1':>8} {deep:>8} {'':>7} {'p1':>8} {deep:>8}")
        ratios: dict[tuple[str, str], float] = {}
        with DatabaseManager.database().engine.begin() as conn:
            conn.execute(text("ANALYZE TABLE study_sessions"))
        for label, hinted in HINTS:
            pagination._HINTED_DIALECTS = ("mysql", "mariadb") if hinted else ()
            for shape, loads in shapes.items():
                ratios[label, shape] = report(f"{label}, {shape}", measure(loads, args.rounds))
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)
    met = ratios[HINTS[0][0], "finished"] <= TARGET_RATIO
    print("target met" if met else "target NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
