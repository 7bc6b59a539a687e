"""Soak: units of work on a private MariaDB that is killed (-9) and restarted under load.

N threads run mixed units of work for S seconds through studyhall's real API
(`DatabaseManager.initialize(DatabaseSettings(...))`, `@with_db_session` with options,
`DatabaseManager.get_session(...)`) against a private MariaDB (its own data directory and
port, never the shared server), which is killed with SIGKILL and restarted on the same
data directory K times during the run. The kinds of call:

  plain         an owner inserting 2-3 rows
  swallowed     an owner whose joined inner call inserts and raises; the owner catches it
                and returns, inserts, or calls `session.commit()`: the call must raise
                TransactionRolledBackError and commit nothing
  nested        an owner with a `propagation="nested"` part that succeeds, raises, or
                swallows a joined failure: the outer rows commit, the nested ones only
                when the nested part succeeded
  requires_new  an owner calling a `propagation="requires_new"` unit (recorded on its own
                as `requires_new (inner)`: it commits whatever its caller then does);
                the owner fails on purpose in one call of three
  retries       `retries=3` owners inserting a row and bumping 2-3 of a few hot counters
                in random order (deadlocks)

Every unit inserts rows with client-made unique ids. At the end, from a fresh connection:
(1) committed rows = rows of calls that returned normally, plus, for each call that raised
CommitOutcomeUnknownError, all or none of its rows; (2) no unit half-written; (3) a call
that raised anything else left nothing; the hot counters equal the bumps of the committed
`retries` units; (4) no connection leaked (pool checked-out count 0, no app connection left
on the server after `DatabaseManager.cleanup()`, every thread ended). Exits 1 on any
violation. The private server is always stopped at the end, by its own PID.

Run: `.venv/bin/python -m benchmarks.soak [--seconds 60 --threads 8 --kills 2]`.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pymysql  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, insert, update
from sqlalchemy.engine import URL
from sqlalchemy.pool import QueuePool

from benchmarks.common import machine
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager, get_current_session, with_db_session
from studyhall.db import default
from studyhall.errors import (
    CommitOutcomeUnknownError,
    ConflictError,
    DatabaseUnavailableError,
    TransactionRolledBackError,
)

MARIADBD = "/usr/sbin/mariadbd"
APP_USER, APP_PASSWORD, APP_DATABASE = "soak_app", "soak-secret", "soak"
HOT_ROWS = 4
MAX_CALLS_PER_THREAD = 200_000  # a bound far above what a minute can run
PAUSE_AFTER_ERROR = 0.05  # seconds: a dead server fails fast; do not spin on it
START_TIMEOUT = 60.0  # seconds for a (re)started server to answer
DOWN_SECONDS = 1.5

metadata = MetaData()
soak_rows = Table(
    "soak_rows",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("unit_id", BigInteger, nullable=False),
    Column("part", Integer, nullable=False),
)
soak_hot = Table(
    "soak_hot",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
)

Outcome = str  # "returned", "commit unknown", "rolled back", ... (see classify)
OUTCOMES = (
    "returned",
    "commit unknown",
    "rolled back",
    "unavailable",
    "conflict",
    "intended",
    "other",
    "not run",
)


class InnerFailure(Exception):
    """The failure a unit raises on purpose."""


# ---------------------------------------------------------------- the private server


class PrivateServer:
    """A throwaway MariaDB on `port` with its own data directory; survives kill -9 + start."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.directory = Path(tempfile.mkdtemp(prefix="studyhall_soak_"))
        self.socket = str(self.directory / "sock")
        self.log = self.directory / "mariadbd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.directory, "mysql")

    def _user(self) -> list[str]:
        return ["--user=mysql"] if self._as_root else []

    def install(self) -> None:
        """Make the data directory, start the server, create the app user and database."""
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.directory}/data",
             *self._user(), "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip
        self.start()
        with contextlib.closing(self.root()) as root, root.cursor() as cursor:
            cursor.execute(f"CREATE USER '{APP_USER}'@'127.0.0.1' IDENTIFIED BY '{APP_PASSWORD}'")
            cursor.execute(f"GRANT ALL ON {APP_DATABASE}.* TO '{APP_USER}'@'127.0.0.1'")
            cursor.execute(f"CREATE DATABASE {APP_DATABASE} CHARACTER SET utf8mb4")
            cursor.execute(f"USE {APP_DATABASE}")
            cursor.execute(
                "CREATE TABLE soak_rows (id BIGINT PRIMARY KEY, unit_id BIGINT NOT NULL, "
                "part INT NOT NULL, KEY (unit_id)) ENGINE=InnoDB"
            )
            cursor.execute("CREATE TABLE soak_hot (id INT PRIMARY KEY, n BIGINT NOT NULL)")
            cursor.executemany(
                "INSERT INTO soak_hot VALUES (%s, 0)", [(i,) for i in range(HOT_ROWS)]
            )

    def start(self) -> float:
        """Start the server on its data directory; return the seconds until it answered."""
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [MARIADBD, "--no-defaults", f"--datadir={self.directory}/data",
                 f"--port={self.port}", f"--socket={self.socket}", "--bind-address=127.0.0.1",
                 *self._user(), "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
                 "--innodb-lock-wait-timeout=5", "--max-connections=200"],
                stdout=log, stderr=log,
            )  # fmt: skip
        deadline = started + START_TIMEOUT
        while True:
            try:
                # Our own probe first: PyMySQL leaks its Unix socket when connect() fails,
                # and the killed server's socket file refuses until the new one replaces it.
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.settimeout(2)
                    probe.connect(self.socket)
                self.root().close()
                return time.monotonic() - started
            except (OSError, pymysql.err.OperationalError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = self.log.read_text(errors="replace").splitlines()[-5:]
                    raise RuntimeError(
                        f"The private MariaDB on port {self.port} did not start within "
                        f"{START_TIMEOUT:g} s (is the port taken?). Its log ends:\n"
                        + "\n".join(tail)
                    ) from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would, and reap it."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server (by its PID) if it runs, and remove its data directory."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        shutil.rmtree(self.directory, ignore_errors=True)

    def root(self) -> pymysql.Connection:  # type: ignore[type-arg, unused-ignore]
        """A fresh root connection over the server's socket (not the app user)."""
        return pymysql.connect(
            unix_socket=self.socket, user="root", connect_timeout=2, autocommit=True
        )

    @property
    def url(self) -> URL:
        return URL.create(
            "mysql+pymysql", APP_USER, APP_PASSWORD, "127.0.0.1", self.port, APP_DATABASE
        )

    def version(self) -> str:
        with contextlib.closing(self.root()) as root, root.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            row = cursor.fetchone()
        return str(row[0]).split("-", 1)[0] if row else "?"


# ---------------------------------------------------------------- what each call does


@dataclass
class Unit:
    """Rows written under one unit id; `commits`: whether they belong in a committed result."""

    unit_id: int
    rows: int
    commits: bool

    def values(self) -> list[dict[str, int]]:
        return [
            {"id": self.unit_id * 10 + part, "unit_id": self.unit_id, "part": part}
            for part in range(self.rows)
        ]


@dataclass
class Call:
    """One top-level call (or a requires_new inner unit) and how it ended."""

    kind: str
    units: list[Unit]
    bumps: Counter[int] = field(default_factory=Counter)
    attempts: int = 0  # runs of the function: more than one when `retries` ran it again
    outcome: Outcome = "not run"
    error: str = ""


_unit_ids = itertools.count(1)


def new_unit(rows: int, commits: bool) -> Unit:
    return Unit(next(_unit_ids), rows, commits)


def _insert(unit: Unit) -> None:
    # One statement per row: more places for a kill to fall between two of them.
    session = get_current_session()
    for values in unit.values():
        session.execute(insert(soak_rows).values(**values))


@with_db_session
def plain_unit(unit: Unit) -> None:
    _insert(unit)


@with_db_session
def failing_inner(unit: Unit) -> None:
    _insert(unit)
    raise InnerFailure("inner call fails on purpose")


SwallowMode = Literal["return", "insert", "commit"]


@with_db_session
def swallowing_unit(first: Unit, inner: Unit, last: Unit, mode: SwallowMode) -> None:
    _insert(first)
    with contextlib.suppress(InnerFailure):
        failing_inner(inner)
    # Each is refused: the unit is rollback-only until this owner exits.
    if mode == "insert":
        _insert(last)
    elif mode == "commit":
        # As a caller that ignores the refusal would (issue 9, finding 1): had the unit
        # begun a new transaction, `last` would be committed here.
        with contextlib.suppress(TransactionRolledBackError):
            _insert(last)
        get_current_session().commit()


NestedMode = Literal["ok", "raise", "swallow"]


@with_db_session(propagation="nested")
def nested_part(unit: Unit, extra: Unit, mode: NestedMode) -> None:
    _insert(unit)
    if mode == "raise":
        raise InnerFailure("nested part fails on purpose")
    if mode == "swallow":
        with contextlib.suppress(InnerFailure):
            failing_inner(extra)


def nested_with_get_session(unit: Unit, extra: Unit, mode: NestedMode) -> None:
    with DatabaseManager.get_session(propagation="nested"):
        _insert(unit)
        if mode == "raise":
            raise InnerFailure("nested part fails on purpose")
        if mode == "swallow":
            with contextlib.suppress(InnerFailure):
                failing_inner(extra)


@with_db_session
def nesting_unit(
    before: Unit, unit: Unit, extra: Unit, after: Unit, mode: NestedMode, decorated: bool
) -> None:
    _insert(before)
    part = nested_part if decorated else nested_with_get_session
    # A failed nested part is undone to its savepoint; the outer unit goes on.
    with contextlib.suppress(InnerFailure, TransactionRolledBackError):
        part(unit, extra, mode)
    _insert(after)


@with_db_session(propagation="requires_new")
def independent_unit(unit: Unit) -> None:
    _insert(unit)


def independent_with_get_session(unit: Unit) -> None:
    with DatabaseManager.get_session(propagation="requires_new"):
        _insert(unit)


@with_db_session
def requiring_new_unit(
    before: Unit, inner: Call, after: Unit, decorated: bool, fail: bool
) -> None:
    _insert(before)
    independent = independent_unit if decorated else independent_with_get_session
    run_call(inner, lambda: independent(inner.units[0]))
    _insert(after)
    if fail:
        raise InnerFailure("outer unit fails on purpose after its requires_new unit")


@with_db_session(retries=3)
def bumping_unit(call: Call, hot: list[int]) -> None:
    call.attempts += 1
    unit = call.units[0]
    _insert(unit)
    session = get_current_session()
    for hot_id in hot:
        session.execute(update(soak_hot).where(soak_hot.c.id == hot_id).values(n=soak_hot.c.n + 1))
        time.sleep(random.uniform(0, 0.002))  # noqa: S311 - widens the deadlock window


def classify(exc: BaseException) -> Outcome:
    if isinstance(exc, CommitOutcomeUnknownError):
        return "commit unknown"
    if isinstance(exc, TransactionRolledBackError):
        return "rolled back"
    if isinstance(exc, DatabaseUnavailableError):
        return "unavailable"
    if isinstance(exc, ConflictError):
        return "conflict"
    if isinstance(exc, InnerFailure):
        return "intended"
    return "other"


def run_call(call: Call, action: Callable[[], None]) -> None:
    """Run `action` and record in `call` how it ended; never raises an Exception."""
    try:
        action()
    except Exception as exc:
        call.outcome = classify(exc)
        first_line = (str(exc).strip().splitlines() or [""])[0]
        call.error = f"{type(exc).__module__}.{type(exc).__qualname__}: {first_line}"[:300]
    else:
        call.outcome = "returned"


def one_call(rng: random.Random, calls: list[Call]) -> bool:
    """Make one random call, append its record(s); True when it ended normally or on purpose."""
    kind = rng.choice(("plain", "swallowed", "nested", "requires_new", "retries"))
    action: Callable[[], None]
    if kind == "plain":
        unit = new_unit(rng.randint(2, 3), True)
        call = Call(kind, [unit])
        if rng.random() < 0.5:
            action = lambda: plain_unit(unit)  # noqa: E731
        else:

            def action() -> None:
                with DatabaseManager.get_session():
                    _insert(unit)

    elif kind == "swallowed":
        swallow: SwallowMode = rng.choice(("return", "insert", "commit"))
        kind = f"swallowed ({swallow})"
        first, inner, last = new_unit(2, False), new_unit(2, False), new_unit(1, False)
        call = Call(kind, [first, inner, last])
        action = lambda: swallowing_unit(first, inner, last, swallow)  # noqa: E731
    elif kind == "nested":
        mode: NestedMode = rng.choice(("ok", "raise", "swallow"))
        kind = f"nested ({mode})"
        before, after = new_unit(2, True), new_unit(1, True)
        unit, extra = new_unit(2, mode == "ok"), new_unit(1, False)
        call = Call(kind, [before, unit, extra, after])
        decorated = rng.random() < 0.5
        action = lambda: nesting_unit(before, unit, extra, after, mode, decorated)  # noqa: E731
    elif kind == "requires_new":
        before, after = new_unit(2, True), new_unit(1, True)
        inner_call = Call("requires_new (inner)", [new_unit(2, True)])
        fail = rng.random() < 1 / 3
        call = Call(kind, [before, after])
        decorated = rng.random() < 0.5
        action = lambda: requiring_new_unit(before, inner_call, after, decorated, fail)  # noqa: E731
        calls.append(inner_call)
    else:
        unit = new_unit(1, True)
        hot = rng.sample(range(HOT_ROWS), rng.randint(2, 3))
        call = Call(kind, [unit], Counter(hot))
        action = lambda: bumping_unit(call, hot)  # noqa: E731
    calls.append(call)
    run_call(call, action)
    return call.outcome in ("returned", "rolled back", "intended")


def worker(seed: int, stop: threading.Event, deadline: float, calls: list[Call]) -> None:
    rng = random.Random(seed)
    for _ in range(MAX_CALLS_PER_THREAD):
        if stop.is_set() or time.monotonic() >= deadline:
            return
        if not one_call(rng, calls):
            time.sleep(PAUSE_AFTER_ERROR)


# ---------------------------------------------------------------- checks and report


@dataclass
class Report:
    calls: list[Call]
    kills: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    rows_committed: int = 0
    rows_of_returned: int = 0
    unknown_present: int = 0
    unknown_absent: int = 0
    checked_out: int = -1
    pooled: int = -1
    before_cleanup: int = -1
    app_connections: int = -1
    threads_alive: int = 0


def check_rows(server: PrivateServer, report: Report) -> None:
    """Compare the committed rows and counters with what each call's outcome allows."""
    with contextlib.closing(server.root()) as root, root.cursor() as cursor:
        cursor.execute(f"SELECT id, unit_id, part FROM {APP_DATABASE}.soak_rows")
        rows = list(cursor.fetchall())
        cursor.execute(f"SELECT id, n FROM {APP_DATABASE}.soak_hot")
        hot = {int(i): int(n) for i, n in cursor.fetchall()}
    report.rows_committed = len(rows)
    present: Counter[int] = Counter()
    for row_id, unit_id, part in rows:
        if row_id != unit_id * 10 + part:
            report.violations.append(f"row {row_id} does not belong to unit {unit_id}")
        present[int(unit_id)] += 1
    known: set[int] = set()
    bumps: Counter[int] = Counter()
    for call in report.calls:
        committed = check_call(call, present, report)
        known.update(u.unit_id for u in call.units)
        if committed:
            bumps.update(call.bumps)
    strangers = sorted(set(present) - known)
    if strangers:
        report.violations.append(f"rows of units no call wrote: {strangers[:10]}")
    for hot_id in range(HOT_ROWS):
        if hot.get(hot_id, 0) != bumps[hot_id]:
            report.violations.append(
                f"hot counter {hot_id} is {hot.get(hot_id, 0)}, but the committed retries "
                f"units bumped it {bumps[hot_id]} times"
            )


def check_call(call: Call, present: Counter[int], report: Report) -> bool:
    """Check one call's units; return whether its transaction committed."""
    where = f"{call.kind} call (units {[u.unit_id for u in call.units]}, {call.outcome})"
    for unit in call.units:
        if present[unit.unit_id] not in (0, unit.rows):
            report.violations.append(
                f"{where}: unit {unit.unit_id} half-written "
                f"({present[unit.unit_id]} of {unit.rows} rows)"
            )
    landed = [u for u in call.units if present[u.unit_id]]
    stray = [u.unit_id for u in landed if not u.commits]
    if stray:
        report.violations.append(f"{where}: units {stray} must never commit, but did")
    wanted = [u for u in call.units if u.commits]
    if call.kind.startswith("swallowed") and call.outcome == "returned":
        report.violations.append(f"{where}: returned normally after a swallowed failure")
    if call.outcome == "returned":
        missing = [u.unit_id for u in wanted if not present[u.unit_id]]
        if missing:
            report.violations.append(f"{where}: returned, yet units {missing} are missing")
        report.rows_of_returned += sum(u.rows for u in wanted)
        return True
    if call.outcome == "commit unknown":
        # One transaction: all of its committing units, or none.
        there = [u for u in wanted if present[u.unit_id]]
        if there and len(there) != len(wanted):
            report.violations.append(f"{where}: only some of its units committed")
        if there:
            report.unknown_present += 1
        else:
            report.unknown_absent += 1
        return bool(there)
    landed_wanted = [u.unit_id for u in landed if u.commits]  # the others are reported
    if landed_wanted:
        report.violations.append(
            f"{where}: raised ({call.error}), yet units {landed_wanted} committed"
        )
    return False


def _app_connections(cursor: pymysql.cursors.Cursor) -> int:
    cursor.execute(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (APP_USER,)
    )
    row = cursor.fetchone()
    return int(row[0]) if row else -1


def _settled(cursor: pymysql.cursors.Cursor, at_most: int) -> int:
    """The app's connections on the server, once at most `at_most` (or 10 s passed).

    The server notices a closed client a moment after it closed.
    """
    deadline = time.monotonic() + 10
    while True:
        count = _app_connections(cursor)
        if count <= at_most or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def check_connections(server: PrivateServer, report: Report) -> None:
    """No pooled connection still checked out, none open beside the pool, none after cleanup."""
    database = default.current()
    with contextlib.closing(server.root()) as root, root.cursor() as cursor:
        if database is not None and isinstance(database.engine.pool, QueuePool):
            pool = database.engine.pool
            report.checked_out = pool.checkedout()
            if report.checked_out:
                report.violations.append(
                    f"{report.checked_out} pooled connection(s) still checked out after the run"
                )
            report.pooled = pool.checkedin()
            report.before_cleanup = _settled(cursor, report.pooled)
            if report.before_cleanup > report.pooled:
                report.violations.append(
                    f"{report.before_cleanup} connection(s) of {APP_USER} on the server, but "
                    f"the pool holds only {report.pooled}: some were dropped without closing"
                )
        DatabaseManager.cleanup()
        report.app_connections = _settled(cursor, 0)
    if report.app_connections:
        report.violations.append(
            f"{report.app_connections} connection(s) of {APP_USER} left on the server after "
            "DatabaseManager.cleanup()"
        )


def print_report(report: Report, header: str) -> None:
    print(header)
    for line in report.kills:
        print(f"  {line}")
    table: dict[str, Counter[str]] = {}
    others: Counter[str] = Counter()
    samples: dict[str, str] = {}
    for call in report.calls:
        outcome = call.outcome if call.outcome in OUTCOMES else "other"
        table.setdefault(call.kind, Counter())[outcome] += 1
        if outcome == "other":
            others[call.error.split(":", 1)[0]] += 1
            samples.setdefault(call.error.split(":", 1)[0], f"{call.kind}: {call.error}")
    width = max(len(k) for k in table) if table else 10

    def row(name: str, counts: Counter[str]) -> str:
        cells = "".join(f"{counts[o]:>{len(o) + 2}}" for o in OUTCOMES)
        return f"{name:<{width}}{sum(counts.values()):>7}{cells}"

    print(f"\n{'kind':<{width}}{'calls':>7}" + "".join(f"  {o}" for o in OUTCOMES))
    total: Counter[str] = Counter()
    for kind in sorted(table):
        total.update(table[kind])
        print(row(kind, table[kind]))
    print(row("all", total))
    print("  (intended: the InnerFailure a unit raises on purpose; rolled back: "
          "TransactionRolledBackError)")  # fmt: skip
    for name, count in others.most_common():
        print(f"  other: {count} x {name}, e.g. {samples[name]}")
    print(
        f"\nrows committed {report.rows_committed}: {report.rows_of_returned} of calls that "
        f"returned; calls with an unknown commit outcome: {report.unknown_present} committed, "
        f"{report.unknown_absent} not"
    )
    bumping = [c for c in report.calls if c.kind == "retries"]
    print(
        f"retries: {len(bumping)} calls ran their function {sum(c.attempts for c in bumping)} "
        "times (each re-run follows a deadlock, lock wait or lost connection)"
    )
    gave_up = Counter(
        c.attempts for c in bumping if "Deadlock" in c.error or "conflict" in c.outcome
    )
    if gave_up:
        runs = ", ".join(f"{n} after {a} run(s)" for a, n in sorted(gave_up.items()))
        print(f"  retries calls that ended on a deadlock or lock wait: {runs}")
    print(
        f"connections: {report.checked_out} checked out after the run; {report.before_cleanup} "
        f"of the app on the server for {report.pooled} in the pool; "
        f"{report.app_connections} of the app on the server after cleanup(), "
        f"{report.threads_alive} thread(s) still running"
    )
    print(f"violations: {len(report.violations)}")
    for violation in report.violations[:50]:
        print(f"  - {violation}")


# ---------------------------------------------------------------- the run


def run(server: PrivateServer, seconds: float, threads: int, kills: int, seed: int) -> Report:
    settings = DatabaseSettings(
        url=server.url,
        source="DATABASE_URL",
        # Each thread may hold a second connection for its requires_new unit.
        pool_size=2 * threads,
        max_overflow=2,
        pool_timeout=10,
        connect_timeout=2,
        read_timeout=10,
        write_timeout=10,
    )
    DatabaseManager.cleanup()
    DatabaseManager.initialize(settings)
    calls: list[list[Call]] = [[] for _ in range(threads)]
    stop = threading.Event()
    start = time.monotonic()
    deadline = start + seconds
    pool = [
        threading.Thread(target=worker, args=(seed + i, stop, deadline, calls[i]), daemon=True)
        for i in range(threads)
    ]
    report = Report([])
    for thread in pool:
        thread.start()
    try:
        for k in range(1, kills + 1):
            time.sleep(max(0.0, start + seconds * k / (kills + 1) - time.monotonic()))
            at = time.monotonic() - start
            server.kill()
            time.sleep(DOWN_SECONDS)
            took = server.start()
            report.kills.append(
                f"kill -9 #{k} at {at:.1f} s; restarted after {DOWN_SECONDS:g} s down, "
                f"answering {took:.1f} s later"
            )
        time.sleep(max(0.0, deadline - time.monotonic()))
    finally:
        stop.set()
        for thread in pool:
            thread.join(timeout=60)
    report.threads_alive = sum(t.is_alive() for t in pool)
    if report.threads_alive:
        report.violations.append(f"{report.threads_alive} worker thread(s) did not end")
    report.calls = [c for per_thread in calls for c in per_thread]
    check_connections(server, report)
    check_rows(server, report)
    return report


@contextlib.contextmanager
def private_server(port: int) -> Iterator[PrivateServer]:
    server = PrivateServer(port)
    try:
        server.install()
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60, help="run time (default 60)")
    parser.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    parser.add_argument("--kills", type=int, default=2, help="kill -9 + restarts (default 2)")
    parser.add_argument("--port", type=int, default=3341, help="private server port (3341)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    args = parser.parse_args(argv)
    if not (Path(MARIADBD).exists() and shutil.which("mariadb-install-db")):
        print(f"soak skipped: {MARIADBD} and mariadb-install-db are needed")
        return 0
    seed = args.seed if args.seed is not None else int(time.time())
    # Retries and warnings during the outages would flood the output; the table says it all.
    studyhall_log = logging.getLogger("studyhall")
    level = studyhall_log.level
    studyhall_log.setLevel(logging.CRITICAL)
    try:
        report, header = soak(args.port, args.seconds, args.threads, args.kills, seed)
    finally:
        studyhall_log.setLevel(level)
    print_report(report, header)
    return 1 if report.violations else 0


def soak(port: int, seconds: float, threads: int, kills: int, seed: int) -> tuple[Report, str]:
    """Run the soak on a private server; return its report and the report's header."""
    with private_server(port) as server:
        header = (
            f"soak: {threads} threads x {seconds:g} s, {kills} kill(s) -9 of a private "
            f"MariaDB {server.version()} on port {port}, seed {seed}\n{machine()}"
        )
        try:
            return run(server, seconds, threads, kills, seed), header
        finally:
            DatabaseManager.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
