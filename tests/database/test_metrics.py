"""Prometheus metrics of units of work and the pool (studyhall.db.metrics)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from studyhall.config import metrics_enabled
from studyhall.database import DatabaseManager, get_current_session, with_db_session
from studyhall.db import metrics
from studyhall.db.backends import drop_database, ensure_database
from studyhall.errors import ConfigurationError
from tests.conftest import throwaway_settings


class _Deadlock(Exception):
    """Looks like MySQL's deadlock error (1213) to the conflict classifier."""

    def __init__(self) -> None:
        super().__init__(1213, "Deadlock found when trying to get lock")


@pytest.fixture
def registry(database):
    registry = CollectorRegistry()
    metrics.enable_metrics(registry, pool=lambda: database.engine.pool)
    yield registry
    metrics.disable_metrics()


def units(registry, outcome):
    return registry.get_sample_value("studyhall_db_units_total", {"outcome": outcome}) or 0


def test_off_by_default_and_nothing_is_recorded(database):
    assert not metrics.enabled()
    with DatabaseManager.get_session() as session:
        session.execute(text("SELECT 1"))
    assert metrics.registry() is None


def test_commit_and_rollback_are_counted_with_durations(registry):
    with DatabaseManager.get_session() as session:
        session.execute(text("SELECT 1"))
    with pytest.raises(ValueError), DatabaseManager.get_session() as session:
        session.execute(text("SELECT 1"))
        raise ValueError("boom")
    assert units(registry, "commit") == 1
    assert units(registry, "rollback") == 1
    assert registry.get_sample_value("studyhall_db_unit_seconds_count") == 2
    assert registry.get_sample_value("studyhall_db_unit_conflicts_total") == 0


def test_joined_calls_are_not_counted_only_their_owner(registry):
    @with_db_session
    def inner():
        get_current_session().execute(text("SELECT 1"))

    @with_db_session
    def outer():
        inner()
        inner()

    outer()
    assert units(registry, "commit") == 1


def test_retries_and_conflicts_are_counted(registry):
    calls = []

    @with_db_session(retries=2)
    def flaky():
        calls.append(1)
        get_current_session().execute(text("SELECT 1"))
        if len(calls) == 1:
            raise OperationalError("UPDATE", {}, _Deadlock())

    flaky()
    assert registry.get_sample_value("studyhall_db_unit_retries_total") == 1
    assert registry.get_sample_value("studyhall_db_unit_conflicts_total") == 1
    assert units(registry, "rollback") == 1
    assert units(registry, "commit") == 1


def test_pool_gauges_are_read_from_the_pool_when_scraped(registry, database):
    pool = database.engine.pool
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        checked_out = registry.get_sample_value("studyhall_db_pool_checked_out")
        assert checked_out == pool.checkedout() >= 1
        assert registry.get_sample_value("studyhall_db_pool_size") == pool.size()
        assert registry.get_sample_value("studyhall_db_pool_overflow") == pool.overflow()
    assert registry.get_sample_value("studyhall_db_pool_checked_out") == pool.checkedout()


def test_counts_are_exact_when_threads_end_units_at_once(registry):
    # Each thread counts into its own tally (no lock); a scrape adds them up, and the
    # tallies of threads that have ended are kept.
    threads, per_thread = 6, 4000
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        start = threading.Barrier(threads)

        def work(n: int) -> None:
            start.wait()
            for i in range(per_thread):
                metrics.record_unit(time.perf_counter(), None if (i + n) % 2 else ValueError())

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    total = threads * per_thread
    assert units(registry, "commit") == units(registry, "rollback") == total / 2
    assert registry.get_sample_value("studyhall_db_unit_seconds_count") == total
    inf = registry.get_sample_value("studyhall_db_unit_seconds_bucket", {"le": "+Inf"})
    assert inf == total


def test_units_in_several_threads_are_all_counted(registry):
    threads, per_thread = 4, 25

    @with_db_session
    def unit() -> None:
        get_current_session().execute(text("SELECT 1"))

    def work() -> None:
        for _ in range(per_thread):
            unit()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert units(registry, "commit") == threads * per_thread
    assert registry.get_sample_value("studyhall_db_unit_seconds_count") == threads * per_thread


def test_unit_durations_fall_in_their_buckets(registry):
    metrics.record_unit(time.perf_counter() - 0.3, None)  # a unit of 0.3 s
    bucket = "studyhall_db_unit_seconds_bucket"
    assert registry.get_sample_value(bucket, {"le": "0.25"}) == 0
    assert registry.get_sample_value(bucket, {"le": "0.5"}) == 1
    assert registry.get_sample_value(bucket, {"le": "+Inf"}) == 1
    assert 0.3 <= registry.get_sample_value("studyhall_db_unit_seconds_sum") < 0.5


def test_nothing_of_metrics_is_called_in_a_unit_when_they_are_off(database):
    # Off means off: not even a call that checks a flag.
    calls = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename == metrics.__file__:
            calls.append(frame.f_code.co_name)

    with DatabaseManager.get_session() as session:  # warm: connection open, pool idle
        session.execute(text("SELECT 1"))
    sys.setprofile(profile)
    try:
        with DatabaseManager.get_session() as session:
            session.execute(text("SELECT 1"))
    finally:
        sys.setprofile(None)
    assert calls == []


@pytest.fixture
def one_connection(backend, tmp_path):
    """The manager on a throwaway database whose pool holds one connection, no overflow."""
    settings = throwaway_settings(backend, tmp_path, pool_size=1, max_overflow=0)
    ensure_database(settings)
    database = DatabaseManager.initialize(settings)
    yield database
    DatabaseManager.cleanup()
    drop_database(settings)


def test_pool_wait_is_the_time_a_checkout_waited_for_a_connection(one_connection):
    registry = CollectorRegistry()
    metrics.enable_metrics(registry, pool=lambda: one_connection.engine.pool)
    try:
        with DatabaseManager.get_session() as session:  # the one connection, opened
            session.execute(text("SELECT 1"))
        wait_count = "studyhall_db_pool_wait_seconds_count"
        # A checkout that finds the connection idle does not wait and is not observed.
        assert (registry.get_sample_value(wait_count) or 0) <= 1  # opening it may be
        idle_waits = registry.get_sample_value(wait_count)
        with DatabaseManager.get_session() as session:
            session.execute(text("SELECT 1"))
        assert registry.get_sample_value(wait_count) == idle_waits
        wait_sum = "studyhall_db_pool_wait_seconds_sum"
        waited_before = registry.get_sample_value(wait_sum)

        hold = 0.5
        holding, waiting = threading.Event(), threading.Event()

        def holder() -> None:
            with DatabaseManager.get_session() as session:
                session.execute(text("SELECT 1"))
                holding.set()
                waiting.wait(5)
                time.sleep(hold)  # the other thread is waiting for this connection

        thread = threading.Thread(target=holder)
        thread.start()
        assert holding.wait(5)
        started = time.perf_counter()
        waiting.set()
        with DatabaseManager.get_session() as session:
            session.execute(text("SELECT 1"))
        elapsed = time.perf_counter() - started
        thread.join()

        assert registry.get_sample_value(wait_count) == idle_waits + 1
        waited = registry.get_sample_value(wait_sum) - waited_before
        # This thread waits from just after `waiting` is set: a fifth of the hold is its
        # margin for reaching the pool on a busy machine.
        assert 0.8 * hold <= waited <= elapsed
    finally:
        metrics.disable_metrics()


def test_disable_takes_the_series_out_of_the_registry(registry):
    metrics.disable_metrics()
    assert registry.get_sample_value("studyhall_db_unit_retries_total") is None
    with DatabaseManager.get_session() as session:
        session.execute(text("SELECT 1"))


def test_the_library_works_without_prometheus_client():
    # A fresh interpreter where prometheus_client cannot be imported.
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "from studyhall.db import metrics\n"
        "from studyhall.errors import ConfigurationError\n"
        "import studyhall.app\n"
        "assert not metrics.available() and metrics.exposition() is None\n"
        "metrics.record_unit(0.0, None); metrics.record_retry()\n"
        "try:\n    metrics.enable_metrics()\nexcept ConfigurationError as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "studyhall[metrics]" in result.stdout


@pytest.mark.parametrize(
    ("raw", "expected"), [("", False), ("0", False), ("off", False), ("1", True), ("on", True)]
)
def test_studyhall_metrics_switch(raw, expected):
    assert metrics_enabled({"STUDYHALL_METRICS": raw}) is expected


def test_a_bad_studyhall_metrics_value_is_an_error():
    with pytest.raises(ConfigurationError, match="STUDYHALL_METRICS='maybe'"):
        metrics_enabled({"STUDYHALL_METRICS": "maybe"})
