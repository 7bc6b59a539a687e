"""Reading an iterator one item ahead, in a worker thread: `read_ahead`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_END = object()


@contextlib.contextmanager
def read_ahead(items: Iterator[T]) -> Iterator[Iterator[T]]:
    """`items`, each next one made in a worker thread while the caller handles the last.

    Worth it when the caller mostly waits with the GIL released (for a server's reply)
    while making an item is Python work. At most one item is made ahead, so memory
    holds two at most. An error in making an item is raised in the caller, at that
    item. On leaving the block, the item being made is finished and the worker ends.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="studyhall-read-ahead") as worker:

        def ahead() -> Iterator[T]:
            future = worker.submit(next, items, _END)
            while (item := future.result()) is not _END:
                future = worker.submit(next, items, _END)
                yield item  # type: ignore[misc]

        yield ahead()


__all__ = ["read_ahead"]
