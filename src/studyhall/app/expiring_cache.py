"""A small in-process cache whose values expire after a few seconds.

For read-only summaries a page may show slightly stale (the manager's counts): one
computation per key and TTL per process, instead of one per request. Each process (each
WSGI worker) has its own, so two workers may show values up to `ttl` seconds apart.
Nothing invalidates an entry early: a writer in another process could not reach it, so
the TTL is the whole contract. `clear()` forgets everything (tests, benchmarks of the
cold path); a TTL of 0 computes every time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_MAX_ENTRIES = 1024


class ExpiringCache(Generic[K, V]):
    """Values by key, each kept for `ttl` seconds, at most `max_entries` of them; thread-safe."""

    def __init__(
        self,
        ttl: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0:
            raise ValueError(f"ttl must be 0 (no caching) or more seconds; it was given {ttl}.")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1; it was given {max_entries}.")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (expires at, value), oldest first.
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        """The value of `key`, from `compute()` when missing or expired.

        `compute` runs outside the lock: a slow computation never blocks other keys, and
        two threads that miss at once may both compute (the later value is kept). An
        exception from `compute` propagates and caches nothing.
        """
        if self.ttl == 0:
            return compute()
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
        value = compute()
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self._clock() + self.ttl, value)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every value: the next `get` of each key computes it."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "ExpiringCache",
]
