"""A PostgreSQL standby cancels a query whose snapshot conflicts with replay ("canceling
statement due to conflict with recovery"): the read-only unit runs again, elsewhere."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from studyhall.database import get_current_session, with_db_session
from tests.replicas.conftest import Replicated


@pytest.fixture
def strict_standbys(replicated: Replicated) -> Iterator[None]:
    """Replicas that cancel a conflicting query at once (max_standby_streaming_delay=0)."""
    if replicated.backend != "postgresql":
        pytest.skip("recovery conflicts are PostgreSQL's")
    urls = replicated.replication[replicated.backend].admin_replica_urls

    def configure(sql: str) -> None:
        for url in urls:
            engine = create_engine(url, poolclass=NullPool)
            try:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text(sql))
                    conn.execute(text("SELECT pg_reload_conf()"))
            finally:
                engine.dispose()

    configure("ALTER SYSTEM SET max_standby_streaming_delay = 0")
    try:
        time.sleep(0.2)  # the reload is asynchronous
        yield
    finally:
        configure("ALTER SYSTEM RESET max_standby_streaming_delay")


def test_a_read_cancelled_by_replay_runs_again(
    replicated: Replicated, strict_standbys: None
) -> None:
    table, ports = replicated.table, []

    @with_db_session(read_only=True)
    def slow_read() -> int:
        session = get_current_session()
        ports.append(replicated.port(session))
        # One statement holding its lock on the table for a second.
        return int(
            session.execute(
                text(f"SELECT count(*) FROM {table}, (SELECT pg_sleep(1.0)) AS pause")
            ).scalar()
            or 0
        )

    results: list[int] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            results.append(slow_read())
        except BaseException as exc:  # reported below
            failures.append(exc)

    reader = threading.Thread(target=run)
    reader.start()
    time.sleep(0.3)
    # The replicas run with hot_standby_feedback (no snapshot conflicts), so the conflict
    # is a lock's: the primary's ACCESS EXCLUSIVE lock, replayed, meets the read's share.
    locker = create_engine(replicated.replication[replicated.backend].admin_primary_url)
    try:
        with locker.connect() as conn:
            conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            conn.commit()
    finally:
        locker.dispose()
    reader.join()
    print(f"\nruns of the read: on ports {ports}; failures {failures}")
    assert failures == [] and results == [1]
    assert len(ports) >= 2  # the standby cancelled the first run, a second one answered
    assert ports[0] in replicated.replica_ports
