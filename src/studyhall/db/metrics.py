"""Prometheus metrics of the data layer: the pool and units of work. Off by default.

On with `STUDYHALL_METRICS=1` (the app calls `enable_metrics()` then) or by calling
`enable_metrics(registry=None)` yourself. Needs `prometheus-client` (the `metrics` extra);
without it the library works as before and `enable_metrics()` raises ConfigurationError.

- `studyhall_db_pool_size`, `..._pool_checked_out`, `..._pool_overflow`: gauges read from
  the pool `pool()` returns when scraped, so a checkout costs nothing; the app passes the
  DatabaseManager's (this module sits below it and cannot reach it).
- `studyhall_db_pool_wait_seconds`: how long a checkout that found no idle connection
  took to get one: waiting for another thread to return one (or for the pool timeout),
  or opening a new one. A checkout that finds one idle waits for nothing and is not
  observed, so the pool's fast path stays as it was.
- `studyhall_db_units_total{outcome}`: owner units of work that ended in `commit` or
  `rollback`; `studyhall_db_unit_conflicts_total` (deadlock, lock wait, busy, serialization)
  and `studyhall_db_unit_retries_total`; `studyhall_db_unit_seconds` their duration.

Cost: each thread counts into its own tally of plain ints, which only that thread writes,
so recording takes no lock: about 0.3 us a unit in a tight loop and 1 us amid real work,
against 1.4 us in a tight loop for prometheus-client's Histogram.observe + Counter.inc,
which lock once each. A scrape adds the tallies up. Counts stay exact under threads, and
a thread's counts outlive it. With metrics off the unit of work and the pool read `on` and
call nothing here.

Registry: the global `prometheus_client.REGISTRY` by default, the one most apps and
`prometheus_client.start_http_server` already expose; pass your own `CollectorRegistry`
to keep studyhall's series apart.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator
from time import perf_counter
from typing import Any

from studyhall.db.error_translation import is_conflict
from studyhall.errors import ConfigurationError

try:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )
    from prometheus_client.utils import floatToGoString

    _AVAILABLE = True
except ImportError:  # the `metrics` extra is not installed: metrics stay off
    _AVAILABLE = False

# prometheus-client's default buckets, which the Histogram this replaced had.
UNIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Up to the default pool timeout (DB_POOL_TIMEOUT, 10 s) and beyond.
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# True while metrics are recorded. The unit of work and the pool read it (no call) and
# call in here only when it is True.
on = False
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
    move there (and start from zero).
    """
    global _metrics, on
    if not _AVAILABLE:
        raise ConfigurationError(
            "Metrics need prometheus-client: install studyhall[metrics], or unset "
            "STUDYHALL_METRICS."
        )
    target = REGISTRY if registry is None else registry
    if _metrics is not None:
        if _metrics.registry is target and _metrics.pool is pool:
            return target
        disable_metrics()
    metrics = _Metrics(target, pool)
    target.register(metrics)
    _metrics, on = metrics, True
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
    global _metrics, on
    metrics, _metrics, on = _metrics, None, False
    if metrics is not None:
        metrics.registry.unregister(metrics)


def record_unit(started: float, error: BaseException | None) -> None:
    """An owner unit of work begun at `started` (perf_counter) ended, raising `error`."""
    metrics = _metrics
    if metrics is None:
        return
    elapsed = perf_counter() - started
    try:
        tally: _Tally = metrics.local.tally  # not metrics.tally(): one call less per unit
    except AttributeError:
        tally = metrics.tally()
    tally.unit_sum += elapsed
    tally.unit_buckets[bisect_left(UNIT_BUCKETS, elapsed)] += 1
    if error is None:
        tally.commits += 1
        return
    tally.rollbacks += 1
    if _is_conflict(error):
        tally.conflicts += 1


def record_retry() -> None:
    """An owner unit of work is about to run again after a conflict or lost connection."""
    metrics = _metrics
    if metrics is not None:
        metrics.tally().retries += 1


def record_replica_routing(route: str) -> None:
    """A read-only unit went `route` (see `studyhall.db.replicas.router`)."""
    metrics = _metrics
    if metrics is not None:
        routes = metrics.tally().routes
        routes[route] = routes.get(route, 0) + 1


def record_pool_wait(seconds: float) -> None:
    """A checkout found no idle connection and took `seconds` to get one (or give up)."""
    metrics = _metrics
    if metrics is not None:
        tally = metrics.tally()
        tally.wait_sum += seconds
        tally.wait_buckets[bisect_left(WAIT_BUCKETS, seconds)] += 1


def _is_conflict(error: BaseException) -> bool:
    cause = error.__cause__
    return is_conflict(error) or (cause is not None and is_conflict(cause))


class _Tally:
    """One thread's counts. Only that thread writes them: `x += 1` on them needs no lock."""

    __slots__ = (
        "thread",
        "commits",
        "rollbacks",
        "conflicts",
        "retries",
        "unit_sum",
        "unit_buckets",
        "wait_sum",
        "wait_buckets",
        "routes",
    )

    def __init__(self, thread: threading.Thread | None) -> None:
        self.thread = thread
        self.commits = self.rollbacks = self.conflicts = self.retries = 0
        self.unit_sum = self.wait_sum = 0.0
        self.unit_buckets = [0] * (len(UNIT_BUCKETS) + 1)  # the last one: +Inf
        self.wait_buckets = [0] * (len(WAIT_BUCKETS) + 1)
        self.routes: dict[str, int] = {}

    def add(self, other: _Tally) -> None:
        self.commits += other.commits
        self.rollbacks += other.rollbacks
        self.conflicts += other.conflicts
        self.retries += other.retries
        self.unit_sum += other.unit_sum
        self.wait_sum += other.wait_sum
        for route, count in list(other.routes.items()):
            self.routes[route] = self.routes.get(route, 0) + count
        for mine, theirs in (
            (self.unit_buckets, other.unit_buckets),
            (self.wait_buckets, other.wait_buckets),
        ):
            for i, count in enumerate(theirs):
                mine[i] += count


class _Metrics:
    """The tallies of every thread, and a Collector that turns them into series."""

    def __init__(self, registry: Any, pool: Callable[[], Any] | None) -> None:
        self.registry = registry
        self.pool = pool
        self.local = threading.local()  # .tally: the thread's _Tally, once it has one
        self._lock = threading.Lock()  # taken once per thread, and by a scrape
        self._tallies: list[_Tally] = []
        self._ended = _Tally(None)  # the counts of threads that have ended

    def tally(self) -> _Tally:
        """The calling thread's tally."""
        try:
            tally: _Tally = self.local.tally
        except AttributeError:
            tally = self.local.tally = _Tally(threading.current_thread())
            with self._lock:
                self._fold_ended()
                self._tallies.append(tally)
        return tally

    def _fold_ended(self) -> None:
        # A thread that has ended writes no more: its counts move to `_ended`, so a server
        # that starts a thread per request keeps a tally per live thread, not per request.
        live = []
        for tally in self._tallies:
            if tally.thread is not None and tally.thread.is_alive():
                live.append(tally)
            else:
                self._ended.add(tally)
        self._tallies = live

    def total(self) -> _Tally:
        """Every thread's counts added up. A thread counting meanwhile may or may not be in."""
        total = _Tally(None)
        with self._lock:
            self._fold_ended()
            total.add(self._ended)
            for tally in self._tallies:
                total.add(tally)
        return total

    def describe(self) -> list[Any]:
        # The names, so that registering studyhall's series twice in a registry fails.
        return list(self._unit_families(_Tally(None)))

    def collect(self) -> Iterator[Any]:
        yield from self._unit_families(self.total())
        yield from self._pool_families()

    def _unit_families(self, total: _Tally) -> Iterator[Any]:
        units = CounterMetricFamily(
            "studyhall_db_units",
            "Owner units of work ended, by outcome (commit or rollback).",
            labels=["outcome"],
        )
        units.add_metric(["commit"], total.commits)
        units.add_metric(["rollback"], total.rollbacks)
        yield units
        yield CounterMetricFamily(
            "studyhall_db_unit_conflicts",
            "Owner units of work that ended in a conflict (deadlock, lock wait, busy).",
            value=total.conflicts,
        )
        yield CounterMetricFamily(
            "studyhall_db_unit_retries",
            "Units of work run again after a conflict or a connection lost before COMMIT.",
            value=total.retries,
        )
        yield _histogram(
            "studyhall_db_unit_seconds",
            "Duration of owner units of work, from opening to commit or rollback.",
            UNIT_BUCKETS,
            total.unit_buckets,
            total.unit_sum,
        )
        if total.routes:
            routes = CounterMetricFamily(
                "studyhall_db_replica_routing",
                "Read-only units of work by where they ran and how read-your-writes was met.",
                labels=["route"],
            )
            for route, count in sorted(total.routes.items()):
                routes.add_metric([route], count)
            yield routes
        yield _histogram(
            "studyhall_db_pool_wait_seconds",
            "Time a checkout that found no idle connection took to get one (waiting for "
            "a return, or opening one).",
            WAIT_BUCKETS,
            total.wait_buckets,
            total.wait_sum,
        )

    def _pool_families(self) -> Iterator[Any]:
        pool = None if self.pool is None else self.pool()
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


def _histogram(
    name: str, documentation: str, bounds: tuple[float, ...], counts: list[int], total: float
) -> Any:
    cumulative, buckets = 0, []
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        cumulative += count
        buckets.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=total)


__all__ = [
    "UNIT_BUCKETS",
    "WAIT_BUCKETS",
    "available",
    "disable_metrics",
    "enable_metrics",
    "enabled",
    "exposition",
    "on",
    "record_pool_wait",
    "record_replica_routing",
    "record_retry",
    "record_unit",
    "registry",
]
