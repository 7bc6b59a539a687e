"""Cancellation soak: 10,000 async units of work, cancelled or timed out at random points.

Each unit writes two rows in one transaction (so an odd count is a half-written unit); a
random half of the tasks is cancelled at a random moment, and a random 30% run under an
`asyncio.timeout` of up to 5 ms. Pool 5 + 0. Afterwards: checked-out connections (pool
status), the server's sessions on the database (MariaDB's process list, PostgreSQL's
pg_stat_activity), the row count's parity, and every warning raised (a "non-checked-in
connection" or garbage-collector warning among them) are printed; exits 1 when one is off.

Run: `.venv/bin/python -m benchmarks.async_soak [--units 10000]
[--backends sqlite,mariadb,postgresql]`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import tempfile
import time
import uuid
import warnings
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool
from tests.database.notes import create_notes, notes
from tests.database.test_async_cancellation import SESSIONS, cancel_some, server_sessions

from benchmarks.async_overhead import URLS
from benchmarks.common import machine
from studyhall.config import DatabaseSettings
from studyhall.db.aio import AsyncDatabase
from studyhall.db.backends import drop_database, ensure_database

POOL = 5


def settings_for(backend: str, directory: Path) -> DatabaseSettings:
    name = f"studyhall_bench_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        url = URL.create("sqlite+pysqlite", database=str(directory / f"{name}.sqlite3"))
    else:
        url = make_url(URLS[backend]).set(database=name)
    return DatabaseSettings(url=url, source="DATABASE_URL", pool_size=POOL, max_overflow=0)


def soak(backend: str, units: int, directory: Path) -> bool:
    settings = settings_for(backend, directory)
    ensure_database(settings)
    engine = create_engine(settings.url, poolclass=NullPool)
    create_notes(engine)
    seen: dict[str, int] = {}

    async def main() -> None:
        database = AsyncDatabase(dataclasses.replace(settings))
        try:
            seen.update(await cancel_some(database, units, seed=14))
            seen["checked_out"] = database.engine.pool.checkedout()
            if backend in SESSIONS:
                seen["server_sessions"] = await server_sessions(settings, backend, POOL)
        finally:
            await database.dispose()

    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()
    took = time.perf_counter() - started
    with engine.connect() as conn:
        rows = int(conn.scalar(select(func.count()).select_from(notes)) or 0)
    engine.dispose()
    drop_database(settings)
    ok = (
        seen["checked_out"] == 0
        and rows % 2 == 0
        and rows >= 2 * seen["committed"]
        and seen.get("server_sessions", 0) <= POOL
        and not caught
    )
    print(
        f"{backend:<11}{units:>7}{seen['committed']:>10}{seen['cancelled']:>10}"
        f"{seen['timed_out']:>10}{rows:>7}{seen['checked_out']:>9}"
        f"{seen.get('server_sessions', '-')!s:>9}{len(caught):>9}{took:>8.1f}  "
        f"{'ok' if ok else 'FAILED'}"
    )
    for warning in caught[:5]:
        print(f"  warning: {warning.category.__name__}: {warning.message}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,mariadb,postgresql")
    args = parser.parse_args(argv)
    print(f"async_soak, pool {POOL} + 0, on {machine()}")
    print(
        f"{'backend':<11}{'units':>7}{'committed':>10}{'cancelled':>10}{'timed out':>10}"
        f"{'rows':>7}{'checked':>9}{'sessions':>9}{'warnings':>9}{'s':>8}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="studyhall_soak_") as directory:
        for backend in args.backends.split(","):
            results.append(soak(backend, args.units, Path(directory)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
