"""Seeding the sample data at scale, beside two baselines that insert the same rows.

On MariaDB and SQLite, in rounds that alternate the variants (so a shared machine's noise
hits each alike), into freshly created tables each time:

  (a) seeding: `sample_data.populate(scale=N)`, making its rows as it goes, inserting
      them in batches: on MariaDB as multi-row INSERTs rendered a column at a time, the
      next batch made in a worker thread while the server inserts the last; on SQLite
      with the driver's executemany; on PostgreSQL with COPY
  (b) Core baseline: the same rows, prepared beforehand, one `conn.execute(table.insert(),
      rows)` per table, in one transaction
  (c) ORM baseline: the same rows, prepared beforehand, one ORM object added per row
      (the class chosen by role/kind), flushed per table, one transaction; the link table
      `parent_students` has no mapped class and goes through Core

  (d) PostgreSQL only: the same rows, prepared beforehand, through psycopg's
      `COPY table (columns) FROM STDIN` with `write_row`, one transaction

populate() ends with refresh_statistics (ANALYZE on MariaDB and PostgreSQL, outside the
load's transaction), which the baselines do not run: right after each (a) it is run once
more on the loaded tables and timed, and (a) is also reported with that time taken off.

Prints rows per second (median of the rounds) and the ratios of (a) to (b), (c) and (d)
(beside, for (b) and (c), the median of each round's own ratio);
then the peak RSS of a fresh process seeding at scale 10 and at scale 100 (each in its own
subprocess, so neither inherits the other's memory).

Run: `.venv/bin/python -m benchmarks.seeding [--scale 100] [--rounds 3]
[--backends mariadb,sqlite,postgresql]`. MariaDB is reached through
STUDYHALL_BENCH_MARIADB_URL (default root@127.0.0.1:3306), PostgreSQL through
STUDYHALL_BENCH_POSTGRESQL_URL (default postgres@127.0.0.1:5432); a
`studyhall_bench_<random>` database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from benchmarks.my_courses import settings_for as mariadb_or_sqlite
from studyhall.config import DatabaseSettings
from studyhall.db.backends import drop_database, ensure_database, refresh_statistics
from studyhall.db.engine import Database
from studyhall.models import (
    AIAgent,
    Assessment,
    AssessmentChoice,
    AssessmentQuestion,
    Base,
    Course,
    Enrollment,
    Evaluation,
    HomeHoursStudySession,
    LearningUnit,
    Manager,
    Parent,
    QAResource,
    School,
    SchoolClass,
    Student,
    StudyMessage,
    Subject,
)
from studyhall.sample_data.load import _fill_clock_columns, populate
from studyhall.sample_data.rows import TABLES, Blueprint, Row

Prepared = list[tuple[str, list[Row]]]
BACKENDS = {"mariadb": "MariaDB", "sqlite": "SQLite", "postgresql": "PostgreSQL"}
POSTGRESQL_URL = os.environ.get(
    "STUDYHALL_BENCH_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

MODELS: dict[str, Any] = {
    "schools": School,
    "school_classes": SchoolClass,
    "subjects": Subject,
    "courses": Course,
    "learning_units": LearningUnit,
    "assessments": Assessment,
    "assessment_questions": AssessmentQuestion,
    "assessment_choices": AssessmentChoice,
    "qa_resources": QAResource,
    "ai_agents": AIAgent,
    "enrollments": Enrollment,
    "study_sessions": HomeHoursStudySession,
    "study_messages": StudyMessage,
    "evaluations": Evaluation,
}
DISCRIMINATORS = {"users": "role", "study_sessions": "kind"}
USER_CLASSES: dict[str, Any] = {"student": Student, "parent": Parent, "manager": Manager}


def settings_for(backend: str, workdir: Path) -> DatabaseSettings:
    if backend != "postgresql":
        return mariadb_or_sqlite(backend, workdir)
    name = f"studyhall_bench_{workdir.name.rsplit('_', 1)[-1].lower()}"
    url = make_url(POSTGRESQL_URL).set(database=name)
    return DatabaseSettings(url=url, source="DATABASE_URL")


def prepare(scale: int) -> Prepared:
    """Every row of the sample data at `scale`, made before any timing starts."""
    tables = Base.metadata.tables
    prepared: Prepared = []
    for name, make in TABLES:
        rows = list(make(Blueprint(scale, "scrypt:32768:8:1$prepared$0000")))
        _fill_clock_columns(tables[name], rows)
        prepared.append((name, rows))
    return prepared


def fresh_tables(database: Database) -> None:
    Base.metadata.drop_all(database.engine)
    Base.metadata.create_all(database.engine)


def seed(database: Database, scale: int, prepared: Prepared) -> int:
    return populate(database, scale=scale).total_rows


def core(database: Database, scale: int, prepared: Prepared) -> int:
    tables = Base.metadata.tables
    with database.engine.begin() as conn:
        for name, rows in prepared:
            conn.execute(tables[name].insert(), rows)
    return sum(len(rows) for _, rows in prepared)


def _orm_object(name: str, row: Row) -> Any:
    cls = USER_CLASSES[row["role"]] if name == "users" else MODELS[name]
    # The class sets its discriminator (role, kind); a role maps only its own columns.
    mapped = {attr.key for attr in sa_inspect(cls).column_attrs} - {DISCRIMINATORS.get(name)}
    return cls(**{k: v for k, v in row.items() if k in mapped})


def orm(database: Database, scale: int, prepared: Prepared) -> int:
    with Session(database.engine) as session, session.begin():
        for name, rows in prepared:
            if name == "parent_students":
                session.execute(insert(Base.metadata.tables[name]), rows)
                continue
            for row in rows:
                session.add(_orm_object(name, row))
            session.flush()
            session.expunge_all()
    return sum(len(rows) for _, rows in prepared)


def copy(database: Database, scale: int, prepared: Prepared) -> int:
    tables = Base.metadata.tables
    with database.engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        for name, rows in prepared:
            table = tables[name]
            columns = list(rows[0])
            processors = [
                table.c[key].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
                for key in columns
            ]
            names = ", ".join(f'"{key}"' for key in columns)
            with cursor.copy(f'COPY "{name}" ({names}) FROM STDIN') as stream:
                for row in rows:
                    stream.write_row(
                        [
                            p(row[k]) if p else row[k]
                            for k, p in zip(columns, processors, strict=True)
                        ]
                    )
    return sum(len(rows) for _, rows in prepared)


Variant = tuple[str, Callable[[Database, int, Prepared], int]]
SEED = "(a) seeding: populate()"
ANALYZE = "    ANALYZE at its end, timed again alone"
WITHOUT = "    (a) with that ANALYZE time taken off"
VARIANTS: tuple[Variant, ...] = (
    (SEED, seed),
    ("(b) Core conn.execute(table.insert(), rows)", core),
    ("(c) ORM, one object added per row", orm),
)
COPY = ("(d) psycopg COPY FROM STDIN, write_row", copy)


def bench_backend(label: str, settings: DatabaseSettings, scale: int, rounds: int) -> None:
    ensure_database(settings)
    database = Database(settings)
    prepared = prepare(scale)
    variants = VARIANTS + ((COPY,) if database.engine.dialect.name == "postgresql" else ())
    rates: dict[str, list[float]] = {name: [] for name, _ in variants}
    analyze: list[float] = []
    without: list[float] = []
    try:
        for _ in range(rounds):
            for name, run in variants:
                fresh_tables(database)
                started = time.perf_counter()
                rows = run(database, scale, prepared)
                seconds = time.perf_counter() - started
                rates[name].append(rows / seconds)
                if run is seed:
                    started = time.perf_counter()
                    refresh_statistics(database.engine, list(Base.metadata.tables))
                    analyze.append(time.perf_counter() - started)
                    without.append(rows / (seconds - analyze[-1]))
    finally:
        database.dispose()
    total = sum(len(rows) for _, rows in prepared)
    median = {name: statistics.median(values) for name, values in rates.items()}
    seeding, core_rate, orm_rate = (median[name] for name, _ in VARIANTS)
    bare = statistics.median(without)
    print(f"\n{label}, scale {scale}: {total:,} rows, median of {rounds} rounds")
    for name, _ in variants:
        print(f"  {name:<52} {median[name]:>10,.0f} rows/s")
        if name == SEED:
            print(f"  {ANALYZE:<52} {statistics.median(analyze) * 1000:>10,.0f} ms")
            print(f"  {WITHOUT:<52} {bare:>10,.0f} rows/s")
    core_name, orm_name = VARIANTS[1][0], VARIANTS[2][0]
    print(
        f"  seeding / Core baseline: {seeding / core_rate:.2f}  (target >= 0.95); "
        f"without the ANALYZE: {bare / core_rate:.2f}; "
        f"median of the rounds' own ratios: {_paired(rates, SEED, core_name):.2f}"
    )
    print(
        f"  seeding / ORM baseline:  {seeding / orm_rate:.2f}  (target >= 4); "
        f"median of the rounds' own ratios: {_paired(rates, SEED, orm_name):.2f}"
    )
    if COPY[0] in median:
        print(f"  COPY / Core executemany: {median[COPY[0]] / core_rate:.2f}")
        print(f"  seeding / COPY:          {seeding / median[COPY[0]]:.2f}")


def _paired(rates: dict[str, list[float]], name: str, baseline: str) -> float:
    """The median over the rounds of each round's own ratio of `name` to `baseline`.

    A round's variants run back to back, so a burst of another process's load on this
    shared machine spoils one round's ratio instead of one variant's median.
    """
    return statistics.median(a / b for a, b in zip(rates[name], rates[baseline], strict=True))


def _peak_kib() -> int:
    """This process's peak RSS. Not ru_maxrss: on Linux it keeps, across exec, the RSS
    the parent had when it forked, so every child would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_rss_child(backend: str, scale: int) -> None:
    """In a fresh process: seed at `scale` and print the peak RSS (KiB) as JSON."""
    with tempfile.TemporaryDirectory(prefix="studyhall_bench_") as directory:
        settings = settings_for(backend, Path(directory))
        ensure_database(settings)
        database = Database(settings)
        try:
            fresh_tables(database)
            before = _peak_kib()
            rows = populate(database, scale=scale).total_rows
            after = _peak_kib()
        finally:
            database.dispose()
            drop_database(settings)
    print(json.dumps({"rows": rows, "before_kib": before, "peak_kib": after}))


def peak_rss(backend: str, scales: tuple[int, ...]) -> None:
    print(f"\nPeak RSS of a fresh process seeding on {backend}")
    peaks = {}
    for scale in scales:
        command = [sys.executable, "-m", "benchmarks.seeding", "--rss-child", backend, str(scale)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        peaks[scale] = result["peak_kib"]
        grown = (result["peak_kib"] - result["before_kib"]) / 1024
        print(
            f"  scale {scale:>4}: {result['rows']:>8,} rows, peak "
            f"{result['peak_kib'] / 1024:6.1f} MiB (+{grown:.1f} MiB during the load)"
        )
    low, high = min(scales), max(scales)
    print(f"  peak at scale {high} / scale {low}: {peaks[high] / peaks[low]:.2f}  (target <= 1.1)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", type=int, default=100, help="scale to time (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per variant (default 3)")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="mariadb, sqlite and/or postgresql"
    )
    parser.add_argument(
        "--rss-child", nargs=2, metavar=("BACKEND", "SCALE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.rss_child:
        peak_rss_child(args.rss_child[0], int(args.rss_child[1]))
        return 0
    from benchmarks.common import machine

    print(f"seeding benchmark on {machine()}")
    for backend in args.backends.split(","):
        if backend not in BACKENDS:
            parser.error(f"unknown backend {backend!r}; use {', '.join(BACKENDS)}")
        with tempfile.TemporaryDirectory(prefix="studyhall_bench_") as directory:
            settings = settings_for(backend, Path(directory))
            try:
                bench_backend(BACKENDS[backend], settings, args.scale, args.rounds)
            finally:
                drop_database(settings)
        peak_rss(backend, (10, args.scale))
    return 0


__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
