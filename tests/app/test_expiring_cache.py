"""The app's short cache: a value is computed once per key until it expires; a TTL of 0
computes it every time; entries are bounded; clear() forgets everything."""

from __future__ import annotations

import threading

import pytest

from studyhall.app.expiring_cache import ExpiringCache


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_computed_once_until_it_expires() -> None:
    clock = Clock()
    cache: ExpiringCache[int, str] = ExpiringCache(ttl=5, clock=clock)
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        return f"#{len(calls)}"

    assert cache.get(7, compute) == "#1"
    clock.now += 4.9
    assert cache.get(7, compute) == "#1"
    clock.now += 0.1
    assert cache.get(7, compute) == "#2"
    assert len(calls) == 2


def test_keys_are_cached_apart() -> None:
    cache: ExpiringCache[int, int] = ExpiringCache(ttl=60, clock=Clock())
    assert cache.get(1, lambda: 10) == 10
    assert cache.get(2, lambda: 20) == 20
    assert cache.get(1, lambda: 99) == 10


def test_a_ttl_of_zero_computes_every_time() -> None:
    cache: ExpiringCache[int, int] = ExpiringCache(ttl=0, clock=Clock())
    values = iter(range(10))
    assert [cache.get(1, lambda: next(values)) for _ in range(3)] == [0, 1, 2]
    assert len(cache) == 0


def test_clear_forgets_every_value() -> None:
    cache: ExpiringCache[int, int] = ExpiringCache(ttl=60, clock=Clock())
    cache.get(1, lambda: 1)
    cache.clear()
    assert cache.get(1, lambda: 2) == 2


def test_a_failed_computation_caches_nothing() -> None:
    cache: ExpiringCache[int, int] = ExpiringCache(ttl=60, clock=Clock())

    def fail() -> int:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        cache.get(1, fail)
    assert cache.get(1, lambda: 3) == 3


def test_entries_are_bounded_oldest_out_first() -> None:
    clock = Clock()
    cache: ExpiringCache[int, int] = ExpiringCache(ttl=60, max_entries=3, clock=clock)
    for key in range(5):
        clock.now += 1
        cache.get(key, lambda key=key: key)  # type: ignore[misc]
    assert len(cache) == 3
    assert cache.get(0, lambda: -1) == -1  # evicted: computed again
    assert cache.get(4, lambda: -1) == 4


@pytest.mark.parametrize(("ttl", "max_entries"), [(-1, 10), (5, 0)])
def test_nonsense_limits_are_refused(ttl: float, max_entries: int) -> None:
    with pytest.raises(ValueError, match="ttl|max_entries"):
        ExpiringCache(ttl=ttl, max_entries=max_entries)


def test_threads_share_one_cache() -> None:
    cache: ExpiringCache[int, int] = ExpiringCache(ttl=60)
    barrier = threading.Barrier(4)
    seen: list[int] = []

    def read() -> None:
        barrier.wait()
        for key in range(200):
            seen.append(cache.get(key % 7, lambda key=key: key % 7))  # type: ignore[misc]

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(seen)) == list(range(7)) and len(cache) == 7
