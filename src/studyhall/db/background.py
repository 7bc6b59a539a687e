"""Running database work in a thread pool, each task in a unit of work of its own.

ThreadPoolExecutor does not copy the caller's context, and a session must never cross
threads; `submit_with_session` opens a fresh unit of work in the worker thread.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import ParamSpec, TypeVar

from studyhall.db import default
from studyhall.db.transaction import has_active_session
from studyhall.errors import SessionError

P = ParamSpec("P")
R = TypeVar("R")


def _in_own_unit(call: Callable[[], R]) -> R:
    if has_active_session():
        raise SessionError(
            "A worker thread already has a current session, so the executor copies context "
            "between threads. Use a plain ThreadPoolExecutor with submit_with_session."
        )
    with default.database().unit_of_work("requires_new"):
        return call()


def submit_with_session(
    executor: Executor, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> Future[R]:
    """Submit `fn(*args, **kwargs)` to run in its own unit of work in a worker thread.

    The unit commits when `fn` returns and rolls back when it raises; the Future gives
    the result or the exception. Pass ids, not ORM objects: objects belong to the
    caller's session.
    """
    return executor.submit(_in_own_unit, functools.partial(fn, *args, **kwargs))


__all__ = ["submit_with_session"]
