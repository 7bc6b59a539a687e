"""Where the time of a short unit of work goes: a per-phase cProfile of hot units.

The unit is benchmarks/session_overhead.py's (b): a `@with_db_session` function doing one
primary-key `Session.get`, then COMMIT, on a warm pool. It runs `--n` times unprofiled
(wall and this process's CPU per unit, for scale) and `--n` times under cProfile. The
profile is cut into phases by the functions that enter them (inclusive time, per unit, and
% of the unit), each nested under the phase that calls it:

  Session construction, the statement (begin: connection for bind and pool checkout with
  its listeners; compile / cache lookup; the driver's execute, and inside it the socket
  I/O; ORM result processing), commit (flush check, the driver's COMMIT), close (pool
  check-in and the reset listener); then the exclusive time of studyhall's own code and of
  SQLAlchemy's event dispatch, and the functions with the most exclusive time.

cProfile charges every Python call a fixed cost, so its microseconds exceed the
unprofiled ones; proportions between phases hold roughly, and the call counts are exact
and repeatable (the same on every run, on a busy machine too): `calls/unit` is the figure
to compare before and after a change. The socket line is time spent in `sendall` and
`recv_into`, mostly waiting for the server: not CPU of this process.

`--callgrind` counts instead the machine instructions of a unit, which valgrind's
callgrind makes repeatable to a fraction of a percent on a busy machine: the same program
runs twice under valgrind, with CALLGRIND_UNITS[0] and [1] hot units after the same
warm-up, and the difference of the two totals over the difference of the unit counts is
the instructions per unit of this process's user-space code (no kernel, so no socket
work; about a minute per run). Compare it before and after a change.

Run: `.venv/bin/python -m benchmarks.profile_unit [--n 3000] [--backend mariadb|sqlite]
[--top 15] [--callgrind]`. MariaDB as in session_overhead (STUDYHALL_BENCH_MARIADB_URL; a
throwaway `studyhall_bench_<random>` database, dropped at the end).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import machine
from benchmarks.session_overhead import (
    _decorated_unit,
    key,
    mariadb_settings,
    mariadb_version,
    prepare,
    sqlite_settings,
)
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import drop_database

WARM_UP = 300
CALLGRIND_UNITS = (100, 600)

# pstats key: (file name, first line, function name)
Key = tuple[str, int, str]


@dataclass(frozen=True)
class Phase:
    label: str
    depth: int
    file: str  # the end of the file name ("~" for built-in methods)
    function: str  # the function name as cProfile records it


PHASES = (
    Phase("unit of work (@with_db_session wrapper)", 0, "studyhall/db/transaction/runner.py",
          "wrapper"),
    Phase("Session construction (sessionmaker())", 1, "sqlalchemy/orm/session.py", "__call__"),
    Phase("the statement (Session.get)", 1, "sqlalchemy/orm/session.py", "get"),
    Phase("begin: connection for the session", 2, "sqlalchemy/orm/session.py",
          "_connection_for_bind"),
    Phase("pool checkout (+ checkout listener)", 3, "sqlalchemy/pool/base.py", "_checkout"),
    Phase("compile / compiled-cache lookup", 2, "sqlalchemy/sql/elements.py",
          "_compile_w_cache"),
    Phase("driver execute (PyMySQL)", 2, "pymysql/cursors.py", "execute"),
    Phase("driver execute (sqlite3)", 2, "~", "<method 'execute' of 'sqlite3.Cursor' objects>"),
    Phase("ORM result processing (loading.instances)", 2, "sqlalchemy/orm/loading.py",
          "instances"),
    Phase("commit (flush check, COMMIT)", 1, "studyhall/db/transaction/units.py",
          "commit_as_owner"),
    Phase("driver COMMIT", 2, "pymysql/connections.py", "commit"),
    Phase("driver COMMIT (sqlite3)", 2, "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    Phase("close (Session.close, check-in, reset listener)", 1, "sqlalchemy/orm/session.py",
          "close"),
    Phase("pool check-in (_finalize_fairy)", 2, "sqlalchemy/pool/base.py", "_finalize_fairy"),
)  # fmt: skip
SOCKET = ("<method 'sendall' of '_socket.socket' objects>",
          "<method 'recv_into' of '_socket.socket' objects>")  # fmt: skip
STUDYHALL_FILES = ("studyhall/db/",)
DISPATCH_FILES = ("sqlalchemy/event/",)


def _entry(stats: dict[Key, Any], phase: Phase) -> tuple[int, float] | None:
    """(calls, inclusive seconds) of the phase's function; of several with that name in
    the file, the outermost (largest inclusive time)."""
    found = [
        (value[1], value[3])
        for (file, _, function), value in stats.items()
        if function == phase.function and (file == phase.file or file.endswith(phase.file))
    ]
    return max(found, key=lambda pair: pair[1]) if found else None


def _exclusive(stats: dict[Key, Any], files: tuple[str, ...]) -> tuple[int, float]:
    calls = seconds = 0.0
    for (file, _, _), value in stats.items():
        if any(fragment in file for fragment in files):
            calls += value[1]
            seconds += value[2]
    return int(calls), seconds


@contextmanager
def hot_units(settings: DatabaseSettings) -> Iterator[Callable[[int], None]]:
    """A warm DatabaseManager on `settings`; yields `run(count)`."""
    prepare(settings)
    DatabaseManager.cleanup()
    DatabaseManager.initialize(settings)

    def run(count: int) -> None:
        for i in range(count):
            _decorated_unit(key(i))

    try:
        run(WARM_UP)
        yield run
    finally:
        DatabaseManager.cleanup()


def profile(run: Callable[[int], None], n: int) -> tuple[float, float, pstats.Stats]:
    """Unprofiled wall and CPU us per unit, then the profile of `n` more units."""
    cpu, wall = time.process_time_ns(), time.perf_counter_ns()
    run(n)
    wall_us = (time.perf_counter_ns() - wall) / n / 1000
    cpu_us = (time.process_time_ns() - cpu) / n / 1000
    profiler = cProfile.Profile()
    profiler.enable()
    run(n)
    profiler.disable()
    return wall_us, cpu_us, pstats.Stats(profiler)


def report(
    name: str, n: int, wall_us: float, cpu_us: float, stats: pstats.Stats, top: int
) -> None:
    table: dict[Key, Any] = stats.stats  # type: ignore[attr-defined]
    total_calls = sum(value[1] for value in table.values())
    unit = _entry(table, PHASES[0])
    assert unit is not None, "the unit's wrapper is not in the profile"
    unit_s = unit[1]
    print(f"\n{name}: {n} hot units (one PK SELECT + COMMIT through @with_db_session)")
    print(f"unprofiled: {wall_us:.0f} us wall, {cpu_us:.0f} us CPU of this process per unit")
    print(
        f"profiled: {unit_s / n * 1e6:.0f} us per unit; {total_calls / n:.0f} function calls "
        "per unit (exact, repeatable)"
    )
    print(f"{'phase':<58}{'calls/unit':>11}{'us/unit':>9}{'% unit':>8}")
    for phase in PHASES:
        entry = _entry(table, phase)
        if entry is None:
            continue
        calls, seconds = entry
        label = "  " * phase.depth + phase.label
        print(f"{label:<58}{calls / n:>11.2f}{seconds / n * 1e6:>9.1f}{seconds / unit_s:>8.1%}")
    io = [table[k] for k in table if k[0] == "~" and k[2] in SOCKET]
    io_s = sum(value[3] for value in io)
    io_calls = sum(value[1] for value in io)
    print(
        f"{'socket send + receive (waiting for the server)':<58}{io_calls / n:>11.2f}"
        f"{io_s / n * 1e6:>9.1f}{io_s / unit_s:>8.1%}"
    )
    for label, files in (
        ("studyhall's own code (exclusive)", STUDYHALL_FILES),
        ("SQLAlchemy event dispatch (exclusive)", DISPATCH_FILES),
    ):
        calls, seconds = _exclusive(table, files)
        print(f"{label:<58}{calls / n:>11.2f}{seconds / n * 1e6:>9.1f}{seconds / unit_s:>8.1%}")
    print(f"\ntop {top} functions by exclusive time:")
    print(f"{'calls/unit':>11}{'us/unit':>9}  function")
    ranked = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:top]
    for (file, line, function), value in ranked:
        where = function if file == "~" else f"{_short(file)}:{line}({function})"
        print(f"{value[1] / n:>11.2f}{value[2] / n * 1e6:>9.1f}  {where}")


def _short(file: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def run_units(backend: str, count: int) -> None:
    """Warm up, then run `count` hot units, nothing else (the program callgrind counts)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="studyhall_bench_") as directory:
            with hot_units(sqlite_settings(Path(directory))) as run:
                run(count)
        return
    settings = mariadb_settings()
    try:
        with hot_units(settings) as run:
            run(count)
    finally:
        drop_database(settings)


def callgrind(backend: str) -> int:
    """Print the instructions per hot unit, from two runs under callgrind."""
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)")
        return 1
    totals = []
    for count in CALLGRIND_UNITS:
        with tempfile.TemporaryDirectory(prefix="studyhall_callgrind_") as directory:
            done = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={directory}/out",
                 sys.executable, "-m", "benchmarks.profile_unit", "--backend", backend,
                 "--units", str(count)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or found is None:
            print(f"the run under valgrind failed ({done.returncode}):\n{done.stderr[-2000:]}")
            return 1
        totals.append(int(found.group(1)))
    (few, many), (low, high) = CALLGRIND_UNITS, totals
    print(
        f"callgrind: {(high - low) / (many - few):,.0f} instructions per unit "
        f"({many} units: {high:,}; {few} units: {low:,}; user space of this process only)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=3000, help="profiled units (default 3000)")
    parser.add_argument("--backend", default="mariadb", choices=("mariadb", "sqlite"))
    parser.add_argument("--top", type=int, default=15, help="functions listed (default 15)")
    parser.add_argument(
        "--callgrind", action="store_true", help="count instructions per unit with valgrind"
    )
    parser.add_argument("--units", type=int, help=argparse.SUPPRESS)  # the counted program
    args = parser.parse_args(argv)
    if args.units is not None:
        run_units(args.backend, args.units)
        return 0
    print(f"profile of a unit of work on {machine()}")
    if args.callgrind:
        return callgrind(args.backend)
    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="studyhall_bench_") as directory:
            settings = sqlite_settings(Path(directory))
            with hot_units(settings) as run:
                wall_us, cpu_us, stats = profile(run, args.n)
            report("SQLite", args.n, wall_us, cpu_us, stats, args.top)
        return 0
    version = mariadb_version()
    settings = mariadb_settings()
    if version is None:
        print(f"MariaDB skipped: nothing answers at {settings.masked_url}")
        return 1
    try:
        with hot_units(settings) as run:
            wall_us, cpu_us, stats = profile(run, args.n)
    finally:
        drop_database(settings)
    report(f"MariaDB {version}", args.n, wall_us, cpu_us, stats, args.top)
    return 0


__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
