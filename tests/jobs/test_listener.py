"""PostgreSQL: the worker's LISTEN connection wakes it for other processes' commits, and
comes back after the server drops it."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from studyhall.jobs import Worker
from studyhall.services.job_queue import CHANNEL, DOORBELL
from tests.jobs.test_processes import wait_for

LISTENERS = text(
    "SELECT pid FROM pg_stat_activity "
    "WHERE datname = current_database() AND query = :listen AND pid <> pg_backend_pid()"
)


@pytest.fixture
def pg_db(jobs_db):
    if jobs_db.settings.backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; elsewhere workers poll")
    return jobs_db


def listener_pids(database):
    with database.engine.connect() as connection:
        return {row.pid for row in connection.execute(LISTENERS, {"listen": f"LISTEN {CHANNEL}"})}


def notify(database):
    """A NOTIFY as another process's enqueue sends it (this process's doorbell not rung)."""
    with database.engine.begin() as connection:
        connection.execute(text(f"NOTIFY {CHANNEL}"))


def test_a_notify_rings_the_doorbell_and_the_listener_survives_a_dropped_connection(pg_db):
    worker = Worker(pg_db)
    worker.start()
    try:
        (first,) = wait_for(lambda: listener_pids(pg_db))
        time.sleep(0.3)  # past the ring that follows each (re)connection
        before = DOORBELL.generation
        notify(pg_db)
        wait_for(lambda: DOORBELL.generation > before, timeout=5)

        with pg_db.engine.begin() as connection:  # the server drops the listener's session
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})

        (second,) = wait_for(lambda: listener_pids(pg_db) - {first}, timeout=10)
        assert second != first
        time.sleep(0.3)
        before = DOORBELL.generation
        notify(pg_db)
        wait_for(lambda: DOORBELL.generation > before, timeout=5)
    finally:
        assert worker.stop(30)
    # Stopped: its connection is closed, not left in the pool still listening.
    wait_for(lambda: not listener_pids(pg_db), timeout=10)
