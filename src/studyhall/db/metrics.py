"""Prometheus metrics of the data layer: the pool and units of work. Off by default.

On with `STUDYHALL_METRICS=1` (the app calls `enable_metrics()` then) or by calling
`enable_metrics(registry=None)` yourself. Needs `prometheus-client` (the `metrics` extra);
without it the library works as before and `enable_metrics()` raises ConfigurationError.

- `studyhall_db_pool_size`, `..._pool_checked_out`, `..._pool_overflow`: gauges read from
  the pool `pool()` returns when scraped (a Collector), so a checkout costs nothing; the
  app passes the DatabaseManager's (this module sits below it and cannot reach it).
- `studyhall_db_units_total{outcome}`: owner units of work that ended in `commit` or
  `rollback`; `studyhall_db_unit_conflicts_total` (deadlock, lock wait, busy, serialization)
  and `studyhall_db_unit_retries_total`; `studyhall_db_unit_seconds` their duration.

Registry: the global `prometheus_client.REGISTRY` by default, the one most apps and
`prometheus_client.start_http_server` already expose; pass your own `CollectorRegistry`
to keep studyhall's series apart. No pool wait-time histogram: the pool has no event
before a checkout waits, so timing it means wrapping every checkout (cost on the hot path).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from studyhall.db.error_translation import is_conflict
from studyhall.errors import ConfigurationError

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        Counter,
        Histogram,
        generate_latest,
    )
    from prometheus_client.core import GaugeMetricFamily

    _AVAILABLE = True
except ImportError:  # the `metrics` extra is not installed: metrics stay off
    _AVAILABLE = False

_metrics: _Metrics | None = None


def available() -> bool:
    """Whether prometheus-client is installed."""
    return _AVAILABLE


def enabled() -> bool:
    return _metrics is not None


def registry() -> Any:
    """The registry metrics were enabled on, or None when they are off."""
    return None if _metrics is None else _metrics.registry


def enable_metrics(registry: Any = None, pool: Callable[[], Any] | None = None) -> Any:
    """Record metrics into `registry` (default: prometheus_client.REGISTRY); return it.

    `pool`: called at each scrape, returns the SQLAlchemy Pool to report (or None);
    without it there are no pool gauges.

    Calling it again with the same registry does nothing; with another one, the series
    move there.
    """
    global _metrics
    if not _AVAILABLE:
        raise ConfigurationError(
            "Metrics need prometheus-client: install studyhall[metrics], or unset "
            "STUDYHALL_METRICS."
        )
    target = REGISTRY if registry is None else registry
    if _metrics is not None:
        if _metrics.registry is target and _metrics.pool.source is pool:
            return target
        disable_metrics()
    _metrics = _Metrics(target, pool)
    return target


def exposition() -> tuple[bytes, str] | None:
    """The registry's series in the text exposition format and its content type; None
    when metrics are off."""
    metrics = _metrics
    if metrics is None:
        return None
    return generate_latest(metrics.registry), CONTENT_TYPE_LATEST


def disable_metrics() -> None:
    """Stop recording and take studyhall's series out of their registry."""
    global _metrics
    metrics, _metrics = _metrics, None
    if metrics is not None:
        metrics.unregister()


def record_unit(started: float, error: BaseException | None) -> None:
    """An owner unit of work begun at `started` (perf_counter) ended, raising `error`."""
    metrics = _metrics
    if metrics is not None:
        metrics.unit(started, error)


def record_retry() -> None:
    """An owner unit of work is about to run again after a conflict or lost connection."""
    metrics = _metrics
    if metrics is not None:
        metrics.retries.inc()


def _is_conflict(error: BaseException) -> bool:
    cause = error.__cause__
    return is_conflict(error) or (cause is not None and is_conflict(cause))


class _Metrics:
    def __init__(self, registry: Any, pool: Callable[[], Any] | None) -> None:
        self.registry = registry
        self.units = Counter(
            "studyhall_db_units",
            "Owner units of work ended, by outcome (commit or rollback).",
            ["outcome"],
            registry=registry,
        )
        self.committed = self.units.labels("commit")
        self.rolled_back = self.units.labels("rollback")
        self.conflicts = Counter(
            "studyhall_db_unit_conflicts",
            "Owner units of work that ended in a conflict (deadlock, lock wait, busy).",
            registry=registry,
        )
        self.retries = Counter(
            "studyhall_db_unit_retries",
            "Units of work run again after a conflict or a connection lost before COMMIT.",
            registry=registry,
        )
        self.seconds = Histogram(
            "studyhall_db_unit_seconds",
            "Duration of owner units of work, from opening to commit or rollback.",
            registry=registry,
        )
        self.pool = _PoolCollector(pool)
        registry.register(self.pool)

    def unit(self, started: float, error: BaseException | None) -> None:
        self.seconds.observe(time.perf_counter() - started)
        if error is None:
            self.committed.inc()
            return
        self.rolled_back.inc()
        if _is_conflict(error):
            self.conflicts.inc()

    def unregister(self) -> None:
        for collector in (self.units, self.conflicts, self.retries, self.seconds, self.pool):
            self.registry.unregister(collector)


class _PoolCollector:
    """Pool gauges, read from the pool when scraped (nothing is paid per checkout)."""

    def __init__(self, source: Callable[[], Any] | None) -> None:
        self.source = source

    def describe(self) -> list[Any]:
        return []  # read at scrape time: the pool may not exist yet

    def collect(self) -> Iterator[Any]:
        pool = None if self.source is None else self.source()
        if pool is None:
            return
        # QueuePool has all three; NullPool / StaticPool / SingletonThreadPool have not.
        for name, method, text in (
            ("size", "size", "Connections the pool keeps open (pool_size)."),
            ("checked_out", "checkedout", "Connections in use by a unit of work."),
            ("overflow", "overflow", "Connections open beyond pool_size (may be negative)."),
        ):
            read = getattr(pool, method, None)
            if read is not None:
                yield GaugeMetricFamily(f"studyhall_db_pool_{name}", text, value=read())


__all__ = [
    "available",
    "disable_metrics",
    "enable_metrics",
    "enabled",
    "exposition",
    "record_retry",
    "record_unit",
    "registry",
]
