"""What routing to read replicas costs, and what a second replica gives, on real replication.

Needs the replicated servers of `scripts/replicas.sh up all --replicas 2` (MariaDB GTID on
3307-3309, PostgreSQL streaming on 5442-5444); their URLs are read from
$STUDYHALL_REPLICAS_DIR/env (default /tmp/studyhall-replicas/env).

1. Routing overhead per read-only unit (one primary-key SELECT, then COMMIT), alternating
   the variants in short rounds in one process, all on the same server (replica 1):
     plain      `with db.unit_of_work(read_only=True)` on a Database whose URL is the
                replica itself, no replicas configured (what the unit costs unrouted)
     routed     the same unit on a Database with the primary and one replica: the
                router picks the replica
     routed+token  the same, for a client whose causal token the replica is known to
                have applied (the cached check, no round trip)
     plain @ / routed @  the same through a `@with_db_session(read_only=True)` function
   Printed: microseconds per unit (median of per-round means) and the ratio to plain
   (median of per-round ratios; target <= 1.05).
2. Read throughput: `--threads` threads running read-only decorated units for
   `--seconds`, against a Database with no replicas (all on the primary), 1 replica, and 2
   replicas, alternated over `--rounds`. On this machine the servers and the client share
   the same 2 CPUs, so a second replica adds no CPU: the figure says what routing costs
   and spreads, not what a second machine would add.

Run: `.venv/bin/python -m benchmarks.replicas [--n 3000] [--seconds 3] [--threads 8]
[--backends mariadb,postgresql]`. Each backend gets a table `bench_replicas_<random>` in
the replicated `studyhall` database, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.engine import URL, make_url

from benchmarks.common import machine
from studyhall.config import DatabaseSettings, ReplicaSettings
from studyhall.database import get_current_session, with_db_session
from studyhall.db import default
from studyhall.db.engine import Database
from studyhall.db.replicas import causal

ROUND = 50
ROWS = 100
ENV_PREFIX = {"mariadb": "MARIADB", "postgresql": "POSTGRES"}


def replica_env() -> dict[str, str]:
    directory = Path(os.environ.get("STUDYHALL_REPLICAS_DIR", "/tmp/studyhall-replicas"))
    path = directory / "env"
    if not path.is_file():
        raise SystemExit(
            f"{path} is missing: start the replicated servers with "
            "`scripts/replicas.sh up all --replicas 2` first."
        )
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs if not name.startswith("#")}


def urls(env: dict[str, str], backend: str) -> tuple[URL, list[URL]]:
    prefix = ENV_PREFIX[backend]
    replicas = [make_url(url) for url in env[f"{prefix}_REPLICA_URLS"].split(",")]
    return make_url(env[f"{prefix}_PRIMARY_URL"]), replicas


def database(primary: URL, replicas: list[URL], pool_size: int = 10) -> Database:
    # A loaded 2-CPU machine can leave a replica a second behind: it must stay in rotation
    # for the figures to be about routing.
    replica_settings = (
        ReplicaSettings(urls=tuple(replicas), max_lag_ms=10_000) if replicas else None
    )
    return Database(
        DatabaseSettings(
            url=primary, source="DATABASE_URL", pool_size=pool_size, replicas=replica_settings
        )
    )


@contextmanager
def bench_table(primary: URL) -> Iterator[Table]:
    table = Table(
        f"bench_replicas_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(50)),
    )
    setup = database(primary, [])
    try:
        table.create(setup.engine)
        with setup.engine.begin() as conn:
            conn.execute(table.insert(), [{"id": i, "name": f"item {i}"} for i in range(1, 101)])
        yield table
    finally:
        table.drop(setup.engine, checkfirst=True)
        setup.dispose()


def caught_up(db: Database) -> None:
    """Wait until every replica applied what the primary has (through the probe's view)."""
    assert db.replicas is not None
    with db.engine.connect() as conn:
        target = db.replicas.rotation.positions.primary(conn)
    assert target is not None
    deadline = time.monotonic() + 30
    for replica in db.replicas.replicas:
        while True:
            with replica.probe_engine.connect() as conn:
                applied = db.replicas.rotation.positions.applied(conn)
            if applied is not None and applied.covers(target):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"replica {replica.name} did not catch up")
            time.sleep(0.01)


def overhead(backend: str, primary: URL, replica: URL, table: Table, n: int) -> None:
    plain = database(replica, [])
    routed = database(primary, [replica])
    caught_up(routed)
    statement = select(table.c.name).where(table.c.id == 1)

    def unit_on(db: Database) -> Callable[[int], None]:
        def run(k: int) -> None:
            with db.unit_of_work(read_only=True) as session:
                session.execute(statement, {"id_1": 1 + k % ROWS}).scalar()

        return run

    @with_db_session(read_only=True)
    def decorated(k: int) -> None:
        get_current_session().execute(statement, {"id_1": 1 + k % ROWS}).scalar()

    def decorated_on(db: Database) -> Callable[[int], None]:
        def run(k: int) -> None:
            with default.using(db):
                decorated(k)

        return run

    def plain_decorated(k: int) -> None:
        with default.using(plain):
            decorated(k)

    # A token the replica is known to have applied: the cached check, no round trip.
    assert routed.replicas is not None
    known = routed.replicas.replicas[0].applied

    def with_token(k: int) -> None:
        reset = causal.CAUSAL.set(known)
        try:
            unit_on(routed)(k)
        finally:
            causal.CAUSAL.reset(reset)

    variants: dict[str, Callable[[int], None]] = {
        "plain": unit_on(plain),
        "routed": unit_on(routed),
        "routed+token": with_token,
        "plain @": plain_decorated,
        "routed @": decorated_on(routed),
    }
    # Warm up every pool and cache.
    for run in variants.values():
        for k in range(ROUND):
            run(k)
    means: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(max(1, n // ROUND)):
        for name, run in variants.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            for k in range(ROUND):
                run(k)
            cpu[name].append((time.process_time() - started_cpu) / ROUND)
            means[name].append((time.perf_counter() - started) / ROUND)
    counts = routed.replicas.counts()
    assert counts.get("replica", 0) >= n, counts  # every routed unit ran on the replica
    print(f"\n{backend}: routing overhead per read-only unit ({n} units per variant)")
    print("  variant        wall us  ratio of medians (median per-round ratio)   CPU us  ratio")
    for name, values in means.items():
        base = "plain @" if name.endswith("@") else "plain"
        rounds = statistics.median(v / b for v, b in zip(values, means[base], strict=True))
        wall = statistics.median(values) / statistics.median(means[base])
        mine_cpu = statistics.median(cpu[name])
        cpu_ratio = mine_cpu / statistics.median(cpu[base])
        print(
            f"  {name:<14} {statistics.median(values) * 1e6:7.1f}  {wall:.3f}x ({rounds:.3f}x)"
            f"{'':27}{mine_cpu * 1e6:7.1f}  {cpu_ratio:.3f}x {base}"
        )
    # The routing alone, without I/O: an empty read-only unit (no statement, so no
    # connection) routed and not, in the same alternating rounds; the difference is what
    # routing adds to every read-only unit, whatever the unit does.
    empty: dict[str, list[float]] = {"plain": [], "routed": []}
    for _ in range(50):
        for name, db in (("plain", plain), ("routed", routed)):
            started = time.process_time()
            for _ in range(2000):
                with db.unit_of_work(read_only=True):
                    pass
            empty[name].append((time.process_time() - started) / 2000)
    added = statistics.median(empty["routed"]) - statistics.median(empty["plain"])
    unit_cpu = statistics.median(cpu["plain"])
    unrouted, routed_empty = statistics.median(empty["plain"]), statistics.median(empty["routed"])
    print(
        f"  routing alone: an empty read-only unit takes {unrouted * 1e6:.2f} us CPU "
        f"unrouted, {routed_empty * 1e6:.2f} us routed: +"
        f"{added * 1e6:.2f} us, {added / unit_cpu:.1%} of the unit's CPU above"
    )
    plain.dispose()
    routed.dispose()


def throughput(
    backend: str,
    primary: URL,
    replicas: list[URL],
    table: Table,
    seconds: float,
    threads: int,
    rounds: int,
) -> None:
    statement = select(table.c.name).where(table.c.id == 1)

    @with_db_session(read_only=True)
    def read(k: int) -> None:
        get_current_session().execute(statement, {"id_1": 1 + k % ROWS}).scalar()

    setups = {
        "primary only": database(primary, [], threads),
        "1 replica": database(primary, replicas[:1], threads),
        "2 replicas": database(primary, replicas[:2], threads),
    }
    for db in setups.values():
        if db.replicas is not None:
            caught_up(db)
    rates: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(rounds):
        for name, db in setups.items():
            with default.using(db):
                rates[name].append(_units_per_second(read, threads, seconds))
    print(
        f"\n{backend}: read-only units/s, {threads} threads, {seconds:g} s x {rounds} rounds "
        f"(median; servers and client share {os.cpu_count()} CPUs)"
    )
    for name, values in rates.items():
        each = [round(v) for v in values]
        print(f"  {name:<13} {statistics.median(values):8.0f}/s   rounds {each}")
    for db in setups.values():
        db.dispose()


def _units_per_second(read: Callable[[int], None], threads: int, seconds: float) -> float:
    done = [0] * threads
    stop = threading.Event()

    def work(slot: int) -> None:
        k = slot
        while not stop.is_set():
            read(k)
            k += threads
            done[slot] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    return sum(done) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="mariadb,postgresql")
    args = parser.parse_args()
    print(machine())
    env = replica_env()
    for backend in args.backends.split(","):
        primary, replicas = urls(env, backend)
        with bench_table(primary) as table:
            overhead(backend, primary, replicas[0], table, args.n)
            throughput(backend, primary, replicas, table, args.seconds, args.threads, args.rounds)
    print(f"\n{machine()}")


if __name__ == "__main__":
    main()
