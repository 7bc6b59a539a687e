"""What the transaction features cost: savepoints, independent units, and retries.

Inside one open unit of work, each inner call runs one primary-key SELECT as:
  joined        a `@with_db_session` call joining the outer unit (the reference)
  nested        `propagation="nested"`: SAVEPOINT, the SELECT, RELEASE SAVEPOINT
  requires_new  `propagation="requires_new"`: its own session and connection, then COMMIT
And whole units of work (SELECT, then COMMIT), with and without `retries=3` on the
no-conflict path (target: within 1.05).

Variants alternate in rounds in one process (see session_overhead.time_rounds); figures
are medians of the per-round values. Run: `python -m benchmarks.transactions [--n 5000]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import machine
from benchmarks.session_overhead import (
    BenchItem,
    Variant,
    key,
    mariadb_settings,
    mariadb_version,
    prepare,
    sqlite_settings,
    time_rounds,
)
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager, get_current_session, with_db_session
from studyhall.db.backends import drop_database


def _select(k: int) -> None:
    get_current_session().execute(select(BenchItem).where(BenchItem.id == k)).scalar_one()


joined = with_db_session(_select)
nested = with_db_session(propagation="nested")(_select)
requires_new = with_db_session(propagation="requires_new")(_select)
unit = with_db_session(_select)
unit_with_retries = with_db_session(retries=3)(_select)


def inside_one_unit(inner: Callable[[int], None], label: str) -> Variant:
    def run(n: int) -> None:
        with DatabaseManager.get_session():
            for i in range(n):
                inner(key(i))

    return Variant(label, run)


def units(fn: Callable[[int], None], label: str) -> Variant:
    def run(n: int) -> None:
        for i in range(n):
            fn(key(i))

    return Variant(label, run)


def bench_backend(name: str, settings: DatabaseSettings, n: int) -> None:
    prepare(settings)
    DatabaseManager.cleanup()
    DatabaseManager.initialize(settings)
    calls = [
        inside_one_unit(joined, "joined call"),
        inside_one_unit(nested, "nested (savepoint)"),
        inside_one_unit(requires_new, "requires_new"),
    ]
    owned = [units(unit, "unit, no retries"), units(unit_with_retries, "unit, retries=3")]
    try:
        time_rounds(calls + owned, n)
    finally:
        DatabaseManager.cleanup()
    print(f"\n{name}")
    print(f"{'variant':<22}{'us/call':>9}{'x ref':>8}")
    for group in (calls, owned):
        base = group[0]
        for v in group:
            ratio = statistics.median(t / b for t, b in zip(v.wall, base.wall, strict=True))
            print(f"{v.label:<22}{statistics.median(v.wall):>9.1f}{ratio:>8.2f}")
    print("x ref: to the joined call (first group) and to the unit without retries (second)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=5000, help="calls per variant (default 5000)")
    args = parser.parse_args(argv)
    print(f"transactions: {args.n} calls per variant on {machine()}")
    with tempfile.TemporaryDirectory(prefix="studyhall_bench_") as directory:
        bench_backend("SQLite", sqlite_settings(Path(directory)), args.n)
    settings = mariadb_settings()
    version = mariadb_version()
    if version is None:
        print(f"\nMariaDB skipped: nothing answers at {settings.masked_url}")
        return 0
    try:
        bench_backend(f"MariaDB {version}", settings, args.n)
    finally:
        drop_database(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
