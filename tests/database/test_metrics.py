"""Prometheus metrics of units of work and the pool (studyhall.db.metrics)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from studyhall.config import metrics_enabled
from studyhall.database import DatabaseManager, get_current_session, with_db_session
from studyhall.db import metrics
from studyhall.errors import ConfigurationError


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
