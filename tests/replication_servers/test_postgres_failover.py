"""PostgreSQL primary failover through a multi-host URL (libpq's target_session_attrs).

A throwaway primary and standby of `scripts/replicas.sh` on ports 5452/5453 (never the
shared replica set: the standby is promoted). Units of work write without pause; the
primary is stopped (fast shutdown) and the standby promoted (`pg_promote()`, what
`pg_ctl promote` does). New units must reach the new primary; a unit caught in flight must
fail with DatabaseUnavailableError or CommitOutcomeUnknownError, and every unit reported
committed must be there.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from studyhall.config import DatabaseSettings
from studyhall.db import default
from studyhall.db.backends import drop_database, ensure_database
from studyhall.db.decorators import with_db_session
from studyhall.db.engine import Database
from studyhall.db.error_translation import failed_to_connect
from studyhall.db.transaction import get_current_session
from studyhall.errors import CommitOutcomeUnknownError, DatabaseUnavailableError
from tests.replication import run_script, unavailable

PORT = 5452  # the standby listens on PORT + 1
ENV = {
    "STUDYHALL_REPLICAS_DIR": "/tmp/studyhall-failover",
    "STUDYHALL_REPLICAS_POSTGRES_PORT": str(PORT),
}
FAILOVER_URL = (
    "postgresql+psycopg://studyhall:studyhall-app@/studyhall"
    f"?host=127.0.0.1:{PORT}&host=127.0.0.1:{PORT + 1}&target_session_attrs=read-write"
)
STANDBY_ADMIN_URL = f"postgresql+psycopg://postgres@127.0.0.1:{PORT + 1}/studyhall"
# Enough for the backoff (0.02 s doubling, capped at 1 s) to wait at least 2.6 s in all,
# against failovers of 0.2-0.5 s measured here.
RETRIES = 10


@pytest.fixture
def pair() -> Iterator[Path]:
    """A fresh primary (5452) and streaming standby (5453), removed after the test."""
    started = run_script("up", "postgresql", "--replicas", "1", env=ENV)
    if started.returncode != 0:
        run_script("down", "postgresql", env=ENV)
        unavailable(f"a throwaway PostgreSQL pair did not start: {started.stderr.strip()}")
    try:
        yield Path(ENV["STUDYHALL_REPLICAS_DIR"])
    finally:
        run_script("down", "postgresql", env=ENV)


@dataclass
class Writer:
    """Units of work inserting ids 1, 2, 3, ... until stopped; what happened to each."""

    database: Database
    table: str
    committed: dict[int, float] = field(default_factory=dict)  # id -> when it returned
    on_standby: list[float] = field(default_factory=list)  # when units committed there
    messages: set[str] = field(default_factory=set)  # of the errors, for the report
    unavailable: set[int] = field(default_factory=set)
    outcome_unknown: set[int] = field(default_factory=set)
    other: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    retries: int = 0  # > 0: each unit is a @with_db_session(retries=N) function
    runs: dict[int, int] = field(default_factory=dict)  # id -> runs of its unit

    def insert(self, row_id: int) -> object:
        """One unit of work inserting `row_id`; the port of the server that ran it."""
        self.runs[row_id] = self.runs.get(row_id, 0) + 1
        session = get_current_session()
        session.execute(text(f"INSERT INTO {self.table} (id) VALUES ({row_id})"))
        return session.execute(text("SELECT inet_server_port()")).scalar()

    def run(self) -> None:
        insert = with_db_session(retries=self.retries)(self.insert)
        row_id = 0
        while not self.stop.is_set():
            row_id += 1
            try:
                port = insert(row_id)
            except DatabaseUnavailableError as exc:
                self.unavailable.add(row_id)
                self.messages.add(f"{type(exc).__name__}: {str(exc)[:160]}")
                time.sleep(0.005)  # the application's retry, kept tight to time the gap
            except CommitOutcomeUnknownError as exc:
                self.outcome_unknown.add(row_id)
                self.messages.add(f"{type(exc).__name__}: {str(exc)[:160]}")
            except Exception as exc:  # noqa: BLE001 - any other failure is the finding
                self.other.append(exc)
                time.sleep(0.005)
            else:
                self.committed[row_id] = time.monotonic()
                if port == PORT + 1:
                    self.on_standby.append(self.committed[row_id])


def _wait(predicate: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.002)


def _stop_by_pid(pid_file: Path) -> None:
    """Fast shutdown (SIGINT to the postmaster); wait until the process is gone."""
    pid = int(pid_file.read_text().strip())
    os.kill(pid, signal.SIGINT)
    _wait(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 60, "primary shutdown")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def failover_once(directory: Path, retries: int = 0) -> dict[str, float]:
    """One failover under continuous writes; returns its timings and checks the rows."""
    settings = DatabaseSettings(url=make_url(FAILOVER_URL), source="DATABASE_URL")
    # The database is created where the URL leads: the read-write host, not the standby.
    name = f"studyhall_test_{uuid.uuid4().hex[:8]}"
    admin = settings.url.set(username="postgres", password=None, database=name)
    other = DatabaseSettings(url=admin, source="DATABASE_URL")
    assert ensure_database(other) is True
    drop_database(other)
    database = Database(settings)
    table = f"failover_{uuid.uuid4().hex[:10]}"
    with database.engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)"))
    writer = Writer(database, table, retries=retries)
    thread = threading.Thread(target=writer.run, daemon=True)
    with default.using(database):
        thread.start()
        try:
            return _fail_over(directory, database, table, writer, thread)
        finally:
            writer.stop.set()
            thread.join(timeout=60)
            database.dispose()


def _fail_over(
    directory: Path, database: Database, table: str, writer: Writer, thread: threading.Thread
) -> dict[str, float]:
    _wait(lambda: len(writer.committed) >= 50, 60, "50 commits on the first primary")
    stopping = time.monotonic()
    _stop_by_pid(directory / "postgres-primary.pid")
    stopped = time.monotonic()
    standby = create_engine(STANDBY_ADMIN_URL, poolclass=NullPool)
    with standby.connect() as conn:
        assert conn.execute(text("SELECT pg_promote(true, 60)")).scalar() is True
    standby.dispose()
    promoted = time.monotonic()
    _wait(lambda: writer.on_standby, 60, "commit on the new primary")
    first = writer.on_standby[0]
    count = len(writer.committed)
    _wait(lambda: len(writer.committed) >= count + 50, 60, "50 commits on the new primary")
    writer.stop.set()
    thread.join(timeout=60)
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT inet_server_port()")).scalar() == PORT + 1
        rows = set(conn.execute(text(f"SELECT id FROM {table}")).scalars())
    assert writer.other == []
    assert set(writer.committed) <= rows, "a unit reported committed is missing"
    assert not writer.unavailable & rows, "a unit reported unavailable was committed"
    assert rows <= set(writer.committed) | writer.outcome_unknown
    return {
        "stop": stopped - stopping,
        "promote": promoted - stopped,
        "first_write": first - stopping,
        "after_promote": first - promoted,
        "unavailable": len(writer.unavailable),
        "outcome_unknown": len(writer.outcome_unknown),
        "most_runs": max(writer.runs.values()),
        "messages": sorted(writer.messages),  # type: ignore[dict-item]
    }


def test_new_units_reach_the_promoted_standby_and_no_commit_is_lost(pair: Path) -> None:
    timings = failover_once(pair)
    print(
        f"failover: primary stopped in {timings['stop']:.3f} s, standby promoted in "
        f"{timings['promote']:.3f} s; first new write {timings['first_write']:.3f} s after "
        f"the stop began ({timings['after_promote']:.3f} s after promotion); "
        f"{timings['unavailable']} units unavailable, {timings['outcome_unknown']} with "
        "their commit outcome unknown:\n  " + "\n  ".join(timings["messages"])  # type: ignore[arg-type]
    )
    # A standby takes no write: the first commit there comes after the primary stopped.
    assert timings["first_write"] >= timings["stop"]


def test_with_retries_no_unit_fails_across_the_failover(pair: Path) -> None:
    timings = failover_once(pair, retries=RETRIES)
    print(
        f"failover with retries={RETRIES}: first new write {timings['first_write']:.3f} s "
        f"after the stop began ({timings['after_promote']:.3f} s after promotion); "
        f"{timings['unavailable']} units unavailable, {timings['outcome_unknown']} with "
        f"their commit outcome unknown; at most {timings['most_runs']} runs of one unit:\n  "
        + "\n  ".join(timings["messages"])  # type: ignore[arg-type]
    )
    # Each unit that could not connect, or lost its connection before COMMIT, ran again
    # until the new primary took it; failover_once checked that every unit reported
    # committed is there once (the id is the key: a second run of a committed unit would
    # have failed) and that nothing else is. A COMMIT whose reply was lost is never run
    # again (its outcome is unknown), so only that may still fail.
    assert timings["unavailable"] == 0
    assert timings["first_write"] >= timings["stop"]


def test_a_unit_that_finds_only_a_standby_waits_until_it_is_promoted(pair: Path) -> None:
    # The standby alone, still with target_session_attrs=read-write.
    url = make_url(FAILOVER_URL).difference_update_query(["host"])
    url = url.update_query_dict({"host": f"127.0.0.1:{PORT + 1}"})
    database = Database(DatabaseSettings(url=url, source="DATABASE_URL"))
    runs: list[float] = []

    def in_recovery() -> object:
        runs.append(time.monotonic())
        return get_current_session().execute(text("SELECT pg_is_in_recovery()")).scalar()

    def promote() -> None:
        standby = create_engine(STANDBY_ADMIN_URL, poolclass=NullPool)
        with standby.connect() as conn:
            conn.execute(text("SELECT pg_promote(true, 60)"))
        standby.dispose()

    try:
        with default.using(database):
            with pytest.raises(DatabaseUnavailableError, match="accepts writes") as info:
                with_db_session()(in_recovery)()
            assert failed_to_connect(info.value)
            runs.clear()
            timer = threading.Timer(0.3, promote)
            timer.start()
            assert with_db_session(retries=RETRIES)(in_recovery)() is False
            timer.join()
    finally:
        database.dispose()
    print(
        f"standby promoted under a waiting unit: {len(runs)} runs over {runs[-1] - runs[0]:.2f} s"
    )
    assert len(runs) >= 2
