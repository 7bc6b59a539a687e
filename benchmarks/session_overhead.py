"""What a unit of work costs: a short transaction (one primary-key SELECT, then COMMIT).

Runs on MariaDB and SQLite in one process, alternating the variants in short rounds so
that the noise of a shared machine hits every variant alike:

  (a) bare `with Session() as s, s.begin():` on a plain `create_engine`, same pool options
      but SQLAlchemy's `pool_pre_ping` (a ping at every reuse; studyhall pings only a
      connection idle longer than DB_PING_BYPASS_MS)
  (b) a `@with_db_session` function
  (c) `with DatabaseManager.get_session():`
  (d) an outer `@with_db_session` call whose work is done by a joined inner decorated call
  (e) Flask-SQLAlchemy's `db.session`, one app context per unit, same engine options
  (f) the floor: raw PyMySQL (connect once, SELECT, commit) or raw sqlite3 (BEGIN, SELECT,
      COMMIT)
  ref: (a) on an engine that never resets on check-in: unsafe, but the bound on what
      skipping the check-in ROLLBACK can save on this machine
  (g) (a)'s loop on studyhall's own engine (`build_engine`) with the slow-statement log
      off (DB_SLOW_MS=0), (h) the same with it on (the default, 200 ms; (b) to (d) have it
      on too; the ratio (h) / (g) is printed too), and
      ref: (g) plus a slow-statement timer on engine-level `before_cursor_execute` /
      `after_cursor_execute` listeners, the hook the log does not use, for comparison
      ref: (g) with DB_PING_BYPASS_MS=0, a ping at every reuse (as `pool_pre_ping`): the
      ratio (g) / this is what the ping bypass window saves
  (i) (b) with Prometheus metrics on (studyhall.db.metrics, its own registry): the ratio
      (i) / (b) is printed too (target <= 1.03)
  (j) (b) with OpenTelemetry tracing on (studyhall.db.tracing): an SDK TracerProvider with
      a SimpleSpanProcessor and an exporter that drops every span, so each span's whole
      SDK cost (processor and export call, not a network) is paid inside (j)'s own rounds;
      a BatchSpanProcessor would move the export to a thread that runs during the other
      variants' rounds. Turned on and off outside the timed part of each round. The ratio
      (j) / (b) is printed (reported, no target)
  With mysqlclient installed (pip install 'studyhall[mysqlclient]'), on MariaDB also:
  (k) `with Database.unit_of_work()` on studyhall's engine with PyMySQL, (l) the same with
      mysqlclient (DB_DRIVER=mysqlclient), (m) the floor with mysqlclient: raw MySQLdb
      (connect once, SELECT, commit). Printed: (l) / (m), the unit of work against its raw
      driver, beside (k) / (f), PyMySQL's; and what mysqlclient saves, (l) / (k) and
      (m) / (f). Round trips are not counted for them (the client-side count is PyMySQL's).
  ref: (b) again, a second copy of (b): (b) again / (b) is the noise of these ratios here.
  (n) the floor of any ORM Session unit here: (a) on an engine with neither ping nor
      check-in reset (2 round trips; unsafe as a product, since nothing resets), and (o)
      the floor of a Core unit: a Core connection on that engine, SELECT then COMMIT.
      Printed: (n) / (f) and (o) / (f), what SQLAlchemy itself costs over the raw driver
      on this machine, and (b) / (n), what studyhall adds to the Session floor.
      (b) itself has metrics and tracing off: the baseline; off, a unit of work calls
      nothing in either (tests/database/test_tracing.py holds that with a profiler)

Prints wall-clock microseconds per transaction (median of the per-round means), the ratio
to (a) (median of the per-round ratios) and of (b) to the raw driver (f), this process's
CPU time per transaction, and on
MariaDB the round trips per unit: deltas of the server's global `Questions`, `Com_select`,
`Com_commit`, `Com_rollback` and `Com_admin_commands` (where MariaDB counts COM_PING, which
`Questions` leaves out) over a separate counted pass, minus what the two status queries add
themselves, checked against a client-side count of the commands PyMySQL sent. Another
client can only add to the global counters, so each pass is repeated until it agrees with
the client-side count (or the smallest is kept, and flagged). Also prints what joining an
outer unit costs per call: K joined decorated calls against K plain calls.

Run: `.venv/bin/python -m benchmarks.session_overhead [--n 5000] [--backends mariadb,sqlite]`.
MariaDB is reached through STUDYHALL_BENCH_MARIADB_URL (default root@127.0.0.1:3306); the
benchmark creates its own `studyhall_bench_<random>` database and drops it at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

try:
    import MySQLdb
except ImportError:  # optional: the mysqlclient variants are left out
    MySQLdb = None
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry
from sqlalchemy import String, bindparam, create_engine, event, select, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from benchmarks.common import MARIADB_URL, machine
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager, get_current_session, with_db_session
from studyhall.db import metrics, tracing
from studyhall.db.backends import build_engine, drop_database, engine_options, ensure_database
from studyhall.db.engine import Database

ROWS = 100
ROUND = 50  # units per variant per round: short, so a burst of noise hits neighbours alike
COUNTED_UNITS = 20  # a short window, so that it often falls between other clients' queries
COUNTED_TRIES = 50
JOIN_CALLS = 20_000
JOIN_SAMPLES = 15
COUNTERS = ("Questions", "Com_select", "Com_commit", "Com_rollback", "Com_admin_commands")


class _Base(DeclarativeBase):
    pass


class BenchItem(_Base):
    __tablename__ = "bench_item"
    __table_args__ = {"mysql_engine": "InnoDB"}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


def key(i: int) -> int:
    return 1 + i % ROWS


@with_db_session
def _decorated_unit(k: int) -> None:
    get_current_session().get(BenchItem, k)


@with_db_session
def _joined_inner(k: int) -> None:
    get_current_session().get(BenchItem, k)


@with_db_session
def _outer_unit(k: int) -> None:
    _joined_inner(k)


@with_db_session
def _joined_noop(x: int) -> int:
    return x


def _plain_noop(x: int) -> int:
    return x


class _DroppingExporter(SpanExporter):
    """Takes every span and keeps none: the SDK's work without a collector's."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _no_scope() -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


@dataclass
class Variant:
    label: str
    run: Callable[[int], None]
    # Entered around each timed run but outside its timer (switching tracing on or off
    # re-instruments the engines, a cost no unit of work pays).
    scope: Callable[[], contextlib.AbstractContextManager[None]] = _no_scope
    wall: list[float] = field(default_factory=list)  # us per unit, one per round
    cpu: list[float] = field(default_factory=list)
    counts: dict[str, float] = field(default_factory=dict)  # server counters per unit
    sent: float = 0.0  # commands PyMySQL sent per unit (client side, exact)
    exact: bool = True  # the server counters saw no other client
    driver: str = "pymysql"  # the round trips are counted for PyMySQL's variants only


def plain_options(settings: DatabaseSettings) -> dict[str, Any]:
    """Studyhall's engine options (pool sizes, recycle, connect arguments), with the pool's
    default reset-on-return instead of studyhall's conditional one, and SQLAlchemy's
    pre-ping of every reuse (as a stock application sets it) instead of studyhall's ping
    outside the DB_PING_BYPASS_MS window, done by listeners a plain engine lacks."""
    options = engine_options(settings)
    del options["pool_reset_on_return"], options["hide_parameters"]
    options.pop("poolclass", None)  # SQLAlchemy's own QueuePool: our pool's cost counts too
    options["pool_pre_ping"] = True
    return options


def build_variants(
    settings: DatabaseSettings,
    engines: tuple[Engine, ...],
    flask_app: Any,
    flask_db: Any,
    databases: tuple[Database, ...] = (),
) -> list[Variant]:
    def bare_on(engine: Engine) -> Callable[[int], None]:
        factory = sessionmaker(engine, expire_on_commit=False)

        def bare(count: int) -> None:
            for i in range(count):
                with factory() as s, s.begin():
                    s.get(BenchItem, key(i))

        return bare

    def decorated(count: int) -> None:
        for i in range(count):
            _decorated_unit(key(i))

    def managed(count: int) -> None:
        for i in range(count):
            with DatabaseManager.get_session() as s:
                s.get(BenchItem, key(i))

    def joined(count: int) -> None:
        for i in range(count):
            _outer_unit(key(i))

    def flask(count: int) -> None:
        for i in range(count):
            with flask_app.app_context():
                flask_db.session.get(BenchItem, key(i))
                flask_db.session.commit()

    # Metrics are process-wide: built once, switched on only while (i) runs, so the
    # other variants run with them off and (i) pays no set-up inside its timed rounds.
    metrics.enable_metrics(
        CollectorRegistry(), pool=lambda: DatabaseManager.database().engine.pool
    )
    recording = metrics._metrics
    metrics._metrics, metrics.on = None, False

    def decorated_metrics(count: int) -> None:
        metrics._metrics, metrics.on = recording, True
        try:
            decorated(count)
        finally:
            metrics._metrics, metrics.on = None, False

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_DroppingExporter()))

    @contextlib.contextmanager
    def traced() -> Iterator[None]:
        tracing.enable_tracing(tracer_provider=provider)
        try:
            yield
        finally:
            tracing.disable_tracing()

    raw = raw_unit(settings)

    def floor(count: int) -> None:
        for i in range(count):
            raw(key(i))

    def unit_of_work_on(database: Database) -> Callable[[int], None]:
        def units(count: int) -> None:
            for i in range(count):
                with database.unit_of_work() as s:
                    s.get(BenchItem, key(i))

        return units

    drivers: list[Variant] = []
    if databases:
        raw_mysqldb = raw_mysqlclient_unit(settings)

        def mysqlclient_floor(count: int) -> None:
            for i in range(count):
                raw_mysqldb(key(i))

        pymysql_db, mysqlclient_db = databases
        drivers = [
            Variant("(k) unit of work, PyMySQL", unit_of_work_on(pymysql_db), driver="pymysql"),
            Variant(
                "(l) unit of work, mysqlclnt",
                unit_of_work_on(mysqlclient_db),
                driver="mysqlclient",
            ),
            Variant("(m) raw mysqlclient", mysqlclient_floor, driver="mysqlclient"),
        ]

    bare_engine, unreset_engine, log_off, log_on, cursor_events, floor_engine, always_ping = (
        engines
    )
    core_select = select(BenchItem.__table__).where(BenchItem.__table__.c.id == bindparam("k"))

    def core_floor(count: int) -> None:
        for i in range(count):
            with floor_engine.connect() as connection:
                connection.execute(core_select, {"k": key(i)}).first()
                connection.commit()
    return [
        Variant("(a) bare Session", bare_on(bare_engine)),
        Variant("(b) @with_db_session", decorated),
        Variant("(c) get_session()", managed),
        Variant("(d) outer + joined inner", joined),
        Variant("(e) Flask-SQLAlchemy", flask),
        Variant("(f) raw PyMySQL" if settings.is_mysql else "(f) raw sqlite3", floor),
        # (a) minus the pool's ROLLBACK on check-in, never resetting at all: unsafe, shown
        # only as the most that skipping that ROLLBACK can save here.
        Variant("ref: (a) never reset", bare_on(unreset_engine)),
        Variant("(g) studyhall, slow log off", bare_on(log_off)),
        Variant("(h) studyhall, slow log on", bare_on(log_on)),
        Variant("ref: (g) + cursor events", bare_on(cursor_events)),
        # (g) with DB_PING_BYPASS_MS=0: a ping at every reuse, as pool_pre_ping did.
        Variant("ref: (g), ping every reuse", bare_on(always_ping)),
        Variant("(i) (b) + metrics on", decorated_metrics),
        Variant("(j) (b) + tracing on", decorated, scope=traced),
        Variant("ref: (b) again", decorated),
        # The floors of an ORM Session unit and of a Core one on this machine: (a) and a
        # Core connection on an engine with neither ping nor check-in reset (2 round trips).
        Variant("(n) Session, no ping/reset", bare_on(floor_engine)),
        Variant("(o) Core, no ping/reset", core_floor),
        *drivers,
    ]


def slow_log_engines(settings: DatabaseSettings) -> tuple[Engine, Engine, Engine]:
    """Studyhall engines with the slow-statement log off, on, and off but with a timer on
    engine-level cursor events instead (what that hook would cost)."""
    off = dataclasses.replace(settings, slow_ms=0)
    on = dataclasses.replace(settings, slow_ms=200)
    with_events = build_engine(off)
    threshold = 0.2

    def before(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        rest[1].studyhall_started = time.perf_counter()  # rest: parameters, context, many

    def after(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if time.perf_counter() - rest[1].studyhall_started > threshold:
            print(f"slow: {statement[:80]}")

    event.listen(with_events, "before_cursor_execute", before)
    event.listen(with_events, "after_cursor_execute", after)
    return build_engine(off), build_engine(on), with_events


def raw_unit(settings: DatabaseSettings) -> Callable[[int], None]:
    """One transaction on a driver connection opened once: the floor."""
    url = settings.url
    select_sql = "SELECT id, name FROM bench_item WHERE id = {}"
    if settings.is_mysql:
        conn = pymysql.connect(**_pymysql_args(url), database=url.database, charset="utf8mb4")

        def unit(k: int) -> None:
            with conn.cursor() as cursor:
                cursor.execute(select_sql.format("%s"), (k,))
                cursor.fetchone()
            conn.commit()

        return unit
    lite = sqlite3.connect(str(url.database), isolation_level=None, check_same_thread=False)
    sql = select_sql.format("?")

    def sqlite_unit(k: int) -> None:
        # Studyhall begins every SQLite transaction explicitly, reads included.
        lite.execute("BEGIN")
        lite.execute(sql, (k,)).fetchone()
        lite.execute("COMMIT")

    return sqlite_unit


def raw_mysqlclient_unit(settings: DatabaseSettings) -> Callable[[int], None]:
    """(f) with mysqlclient: one transaction on a MySQLdb connection opened once."""
    url = settings.url
    conn = MySQLdb.connect(**_pymysql_args(url), database=url.database, charset="utf8mb4")

    def unit(k: int) -> None:
        cursor = conn.cursor()
        cursor.execute("SELECT id, name FROM bench_item WHERE id = %s", (k,))
        cursor.fetchone()
        cursor.close()
        conn.commit()

    return unit


def _pymysql_args(url: URL) -> dict[str, Any]:
    return {
        "host": url.host,
        "port": url.port or 3306,
        "user": url.username,
        "password": url.password or "",
    }


def make_flask(settings: DatabaseSettings) -> tuple[Any, Any]:
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    app = Flask("studyhall_bench")
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.url.render_as_string(hide_password=False),
        SQLALCHEMY_ENGINE_OPTIONS=plain_options(settings),
    )
    db = SQLAlchemy(app, session_options={"expire_on_commit": False})
    return app, db


def time_rounds(variants: list[Variant], n: int) -> None:
    """Run every variant n times in rounds of ROUND units, in a new order each round.

    Shuffled (seeded), not rotated: rotating keeps each variant behind the same neighbour,
    whose leftovers (caches, garbage, a pool on another engine) then bias its ratio.
    """
    for v in variants:  # warm-up: connections, compiled-statement caches
        with v.scope():
            v.run(100)
    rounds = max(1, n // ROUND)
    per_round = n // rounds
    order = list(variants)
    shuffle = random.Random(ROUND).shuffle
    for _ in range(rounds):
        shuffle(order)
        for v in order:
            with v.scope():
                cpu, wall = time.process_time_ns(), time.perf_counter_ns()
                v.run(per_round)
                v.wall.append((time.perf_counter_ns() - wall) / per_round / 1000)
                v.cpu.append((time.process_time_ns() - cpu) / per_round / 1000)


def join_overhead() -> tuple[float, float, float]:
    """Inside one open unit of work: us per call of a plain call, and what a joined
    `@with_db_session` call and a joined `with get_session()` add to it."""

    def loop_joined(n: int) -> None:
        for i in range(n):
            _joined_noop(i)

    def loop_plain(n: int) -> None:
        for i in range(n):
            _plain_noop(i)

    def loop_with(n: int) -> None:
        for i in range(n):
            with DatabaseManager.get_session():
                _plain_noop(i)

    loops = {"joined": loop_joined, "plain": loop_plain, "with": loop_with}
    samples: dict[str, list[float]] = {name: [] for name in loops}
    with DatabaseManager.get_session():
        for _ in range(JOIN_SAMPLES):
            for name, loop in loops.items():
                start = time.perf_counter_ns()
                loop(JOIN_CALLS)
                samples[name].append((time.perf_counter_ns() - start) / JOIN_CALLS / 1000)

    def added(name: str) -> float:
        pairs = zip(samples[name], samples["plain"], strict=True)
        return statistics.median(a - p for a, p in pairs)

    return statistics.median(samples["plain"]), added("joined"), added("with")


# --- counting round trips on MariaDB ------------------------------------------------------


@contextlib.contextmanager
def wire_counter() -> Iterator[Counter[str]]:
    """Count what PyMySQL sends: `ping` for COM_PING, else the first word of each query."""
    counts: Counter[str] = Counter()
    connection_class = pymysql.connections.Connection
    original = connection_class._execute_command

    def counting(self: Any, command: int, sql: Any) -> Any:
        if command == pymysql.constants.COMMAND.COM_PING:
            counts["ping"] += 1
        elif command == pymysql.constants.COMMAND.COM_QUERY:
            statement = sql.decode() if isinstance(sql, bytes) else str(sql)
            counts[statement.split(None, 1)[0].lower()] += 1
        else:
            counts[f"command {command}"] += 1
        return original(self, command, sql)

    connection_class._execute_command = counting  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        connection_class._execute_command = original  # type: ignore[method-assign]


def global_status(monitor: Any) -> dict[str, int]:
    with monitor.cursor() as cursor:
        names = ", ".join(f"'{name}'" for name in COUNTERS)
        cursor.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")
        return {name: int(value) for name, value in cursor.fetchall()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in COUNTERS}


def count_round_trips(variants: list[Variant], settings: DatabaseSettings) -> None:
    """Fill each variant's `counts` with its server counters per unit."""
    monitor = pymysql.connect(**_pymysql_args(settings.url), autocommit=True)
    try:
        # What the two status queries add by themselves (each is one Question).
        idle = [_delta(global_status(monitor), global_status(monitor)) for _ in range(5)]
        baseline = {name: min(d[name] for d in idle) for name in COUNTERS}
        for v in variants:
            if v.driver != "pymysql":
                continue
            with v.scope():
                v.run(5)  # the pooled connection is warm and checked in
                best: dict[str, int] | None = None
                sent = 0
                for _ in range(COUNTED_TRIES):
                    with wire_counter() as wire:
                        before = global_status(monitor)
                        v.run(COUNTED_UNITS)
                        after = global_status(monitor)
                    delta = {k: d - baseline[k] for k, d in _delta(before, after).items()}
                    sent = sum(wire.values()) - 2  # the monitor's two SHOWs
                    if best is None or _trips(delta) < _trips(best):
                        best = delta
                    if _trips(best) == sent:  # no other client in this pass
                        break
            assert best is not None
            v.exact = _trips(best) == sent
            v.sent = sent / COUNTED_UNITS
            v.counts = {k: best[k] / COUNTED_UNITS for k in COUNTERS}
    finally:
        monitor.close()


def _trips(delta: dict[str, int]) -> int:
    return delta["Questions"] + delta["Com_admin_commands"]


# --- backends -----------------------------------------------------------------------------


def prepare(settings: DatabaseSettings) -> None:
    ensure_database(settings)
    engine = create_engine(settings.url, **plain_options(settings))
    try:
        _Base.metadata.drop_all(engine)
        _Base.metadata.create_all(engine)
        with Session(engine) as s, s.begin():
            s.add_all(BenchItem(id=i, name=f"item {i}") for i in range(1, ROWS + 1))
    finally:
        engine.dispose()


def bench_backend(name: str, settings: DatabaseSettings, n: int) -> None:
    prepare(settings)
    DatabaseManager.cleanup()
    DatabaseManager.initialize(settings)
    app, db = make_flask(settings)
    engines = (
        create_engine(settings.url, **plain_options(settings)),
        create_engine(settings.url, **plain_options(settings), pool_reset_on_return=None),
        *slow_log_engines(settings),
        create_engine(
            settings.url,
            **{**plain_options(settings), "pool_pre_ping": False},
            pool_reset_on_return=None,
        ),
        build_engine(dataclasses.replace(settings, slow_ms=0, ping_bypass_ms=0)),
    )
    databases: tuple[Database, ...] = ()
    if settings.is_mysql and MySQLdb is not None:
        mysqlclient_url = settings.url.set(drivername=f"{settings.backend}+mysqldb")
        databases = (
            Database(settings),
            Database(dataclasses.replace(settings, url=mysqlclient_url)),
        )
    variants = build_variants(settings, engines, app, db, databases)
    try:
        time_rounds(variants, n)
        if settings.is_mysql:
            count_round_trips(variants, settings)
        join = join_overhead()
    finally:
        for engine in engines:
            engine.dispose()
        for database in databases:
            database.dispose()
        with app.app_context():
            db.engine.dispose()
        DatabaseManager.cleanup()
    report(name, variants, join)


def report(name: str, variants: list[Variant], join: tuple[float, float, float]) -> None:
    base = variants[0]
    rounds = len(base.wall)
    print(f"\n{name}: {rounds} alternating rounds of {ROUND} units per variant")
    header = f"{'variant':<27}{'us/txn':>8}{'x (a)':>7}{'cpu us':>8}"
    if base.counts:
        header += (
            f"{'Questions':>10}{'select':>7}{'commit':>7}{'rollbk':>7}{'ping':>6}{'trips':>7}"
            f"{'sent':>6}"
        )
    print(header)
    for v in variants:
        ratio = statistics.median(t / b for t, b in zip(v.wall, base.wall, strict=True))
        line = (
            f"{v.label:<27}{statistics.median(v.wall):>8.0f}{ratio:>7.2f}"
            f"{statistics.median(v.cpu):>8.0f}"
        )
        if v.counts:
            c = v.counts
            line += (
                f"{c['Questions']:>10.2f}{c['Com_select']:>7.2f}{c['Com_commit']:>7.2f}"
                f"{c['Com_rollback']:>7.2f}{c['Com_admin_commands']:>6.2f}"
                f"{c['Questions'] + c['Com_admin_commands']:>7.2f}{v.sent:>6.2f}"
                + ("" if v.exact else "  (!) other clients in every window")
            )
        print(line)
    if base.counts:
        print(
            "trips = Questions + pings (MariaDB counts COM_PING in Com_admin_commands, not in "
            "Questions), from global counters over the cleanest of up to "
            f"{COUNTED_TRIES} windows of {COUNTED_UNITS} units;\nsent = commands PyMySQL "
            "sent per unit, counted in this process; (!) marks a variant whose server count "
            "never matched it."
        )
    by_label = {v.label[:3]: v for v in variants}
    on, off = by_label["(i)"], by_label["(b)"]
    floor = by_label["(f)"]
    print(
        "(b) / (f), @with_db_session against the raw driver: "
        f"{statistics.median(b / f for b, f in zip(off.wall, floor.wall, strict=True)):.2f} "
        f"wall, {statistics.median(b / f for b, f in zip(off.cpu, floor.cpu, strict=True)):.2f}"
        " CPU (medians of per-round ratios)"
    )
    session_floor, core_floor = by_label["(n)"], by_label["(o)"]
    print(
        "floors against the raw driver: a Session unit with neither ping nor reset (n) / (f) "
        f"{_over(session_floor, floor)}; a Core unit the same (o) / (f) "
        f"{_over(core_floor, floor)}; (b) / (n), what studyhall adds to the Session floor: "
        f"{_over(off, session_floor)}; (b) / (a) {_over(off, by_label['(a)'])}"
    )
    if "(l)" in by_label:
        pymysql_unit, mysqlclient_unit, mysqlclient_raw = (
            by_label["(k)"],
            by_label["(l)"],
            by_label["(m)"],
        )

        print(
            "unit of work against its raw driver: mysqlclient (l) / (m) "
            f"{_over(mysqlclient_unit, mysqlclient_raw)}; PyMySQL (k) / (f) "
            f"{_over(pymysql_unit, floor)}\nmysqlclient against PyMySQL: unit of work (l) / (k) "
            f"{_over(mysqlclient_unit, pymysql_unit)}; raw (m) / (f) "
            f"{_over(mysqlclient_raw, floor)} (medians of per-round ratios)"
        )
    metrics_ratio = statistics.median(t / b for t, b in zip(on.wall, off.wall, strict=True))
    print(f"metrics: (i) / (b) = {metrics_ratio:.3f} (median of per-round ratios)")
    traced = by_label["(j)"]
    again = next(v for v in variants if v.label == "ref: (b) again")

    def ratios(v: Variant) -> str:
        wall = statistics.median(t / b for t, b in zip(v.wall, off.wall, strict=True))
        cpu = statistics.median(t / b for t, b in zip(v.cpu, off.cpu, strict=True))
        return f"{wall:.3f} wall, {cpu:.3f} cpu"

    print(
        f"per-round medians vs (b) (metrics and tracing off, the baseline): metrics on (i) "
        f"{ratios(on)}; tracing on (j) {ratios(traced)}; noise, (b) again {ratios(again)}"
    )
    pinging = next(v for v in variants if v.label == "ref: (g), ping every reuse")
    window = by_label["(g)"]
    wall = statistics.median(g / p for g, p in zip(window.wall, pinging.wall, strict=True))
    cpu = statistics.median(g / p for g, p in zip(window.cpu, pinging.cpu, strict=True))
    print(
        f"ping bypass window: (g) / (g) with a ping at every reuse = {wall:.3f} wall, "
        f"{cpu:.3f} CPU (medians of per-round ratios)"
    )
    log_on, log_off = by_label["(h)"], by_label["(g)"]
    slow_ratio = statistics.median(t / b for t, b in zip(log_on.wall, log_off.wall, strict=True))
    print(f"slow log: (h) on / (g) off = {slow_ratio:.3f} (median of per-round ratios)")
    plain, joined, joined_with = join
    print(
        f"join: inside an open unit, a joined @with_db_session call adds {joined:.2f} us to "
        f"a plain call ({plain:.2f} us); a joined `with get_session()` adds {joined_with:.2f} us"
    )


def _over(a: Variant, b: Variant) -> str:
    """a / b: medians of the per-round ratios, wall and CPU."""
    wall = statistics.median(x / y for x, y in zip(a.wall, b.wall, strict=True))
    cpu = statistics.median(x / y for x, y in zip(a.cpu, b.cpu, strict=True))
    return f"{wall:.2f} wall, {cpu:.2f} CPU"


def sqlite_settings(directory: Path) -> DatabaseSettings:
    url = URL.create("sqlite+pysqlite", database=str(directory / "bench.sqlite3"))
    return DatabaseSettings(url=url, source="DATABASE_URL")


def mariadb_settings() -> DatabaseSettings:
    url = make_url(MARIADB_URL).set(database=f"studyhall_bench_{uuid.uuid4().hex[:10]}")
    return DatabaseSettings(url=url, source="DATABASE_URL")


def mariadb_version() -> str | None:
    """The server's version, or None when it does not answer."""
    engine = create_engine(make_url(MARIADB_URL), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            return str(conn.scalar(text("SELECT VERSION()")))
    except DBAPIError:
        return None
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=5000, help="units per variant (default 5000)")
    parser.add_argument(
        "--backends", default="mariadb,sqlite", help="comma-separated: mariadb, sqlite"
    )
    args = parser.parse_args(argv)
    names = args.backends.split(",")
    unknown = set(names) - {"mariadb", "sqlite"}
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(sorted(unknown))}; use mariadb, sqlite")
    print(f"session overhead: {args.n} transactions per variant on {machine()}")
    for name in names:
        if name == "sqlite":
            with tempfile.TemporaryDirectory(prefix="studyhall_bench_") as directory:
                bench_backend("SQLite", sqlite_settings(Path(directory)), args.n)
            continue
        settings = mariadb_settings()
        version = mariadb_version()
        if version is None:
            print(f"\nMariaDB skipped: nothing answers at {settings.masked_url}")
            continue
        try:
            bench_backend(f"MariaDB {version}", settings, args.n)
        finally:
            drop_database(settings)
    return 0


__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
