"""`@with_db_session`: run a function inside a unit of work."""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, overload

from studyhall.database.errors import ConfigurationError
from studyhall.database.retry import backoff_delay, is_retryable
from studyhall.database.session_context import active_session
from studyhall.database.unit_of_work import Propagation, UnitOfWork, check_propagation, fail_joined
from studyhall.utils.logger import get_logger

log = get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


@overload
def with_db_session(fn: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def with_db_session(
    *,
    propagation: Propagation = "required",
    read_only: bool = False,
    isolation_level: str | None = None,
    retries: int = 0,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def with_db_session(
    fn: Callable[P, R] | None = None,
    /,
    *,
    propagation: Propagation = "required",
    read_only: bool = False,
    isolation_level: str | None = None,
    retries: int = 0,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the function in a unit of work: join the active one, or open (and own) one.

    Usable bare (`@with_db_session`) or with options (`@with_db_session(propagation=...)`).
    The owner commits when the function returns and rolls back when it raises; a joined
    call that raises rolls back the unit of work it joined. With `retries=N`, a call that
    owns its unit of work is run again in a fresh transaction, up to N times, after a
    deadlock, lock timeout, serialization failure or lost connection (never after a
    failed COMMIT). `async def` functions get a session of their own task.
    """
    check_propagation(propagation)
    if not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"retries={retries!r} must be a whole number >= 0.")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        from studyhall.database.setup import DatabaseManager

        def unit() -> UnitOfWork:
            database = DatabaseManager._database or DatabaseManager.initialize()
            return database.unit_of_work(
                propagation, read_only=read_only, isolation_level=isolation_level
            )

        # A read-only call goes through UnitOfWork even when it joins: that is where a
        # joined unit of work is made read-only while the call runs.
        joins = propagation in ("required", "mandatory") and not read_only

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                current = active_session()
                if retries and (current is None or propagation == "requires_new"):
                    return await _run_with_retries_async(func, unit, retries, args, kwargs)
                with unit():
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            current = active_session()
            if joins and current is not None:
                # The hot path of a joined call: no context manager, no allocation.
                try:
                    return func(*args, **kwargs)
                except BaseException:
                    fail_joined(current)
                    raise
            if retries and (current is None or propagation == "requires_new"):
                return _run_with_retries(func, unit, retries, args, kwargs)
            with unit():
                return func(*args, **kwargs)

        return wrapper

    if fn is not None:
        return decorate(fn)
    return decorate


def _run_with_retries(
    func: Callable[..., R],
    unit: Callable[[], UnitOfWork],
    retries: int,
    args: Any,
    kwargs: Any,
) -> R:
    attempt = 0
    while True:
        attempt += 1
        uow = unit()
        session = uow.__enter__()
        try:
            result = func(*args, **kwargs)
            session.flush()  # a conflict at the final flush is still safe to retry
        except BaseException as exc:
            uow.__exit__(type(exc), exc, exc.__traceback__)
            time.sleep(_retry_delay(func, attempt, retries, exc))
            continue
        # COMMIT happens here; its failure is never retried (its outcome is unknown).
        uow.__exit__(None, None, None)
        return result


async def _run_with_retries_async(
    func: Callable[..., Awaitable[R]],
    unit: Callable[[], UnitOfWork],
    retries: int,
    args: Any,
    kwargs: Any,
) -> R:
    attempt = 0
    while True:
        attempt += 1
        uow = unit()
        session = uow.__enter__()
        try:
            result = await func(*args, **kwargs)
            session.flush()  # a conflict at the final flush is still safe to retry
        except BaseException as exc:
            uow.__exit__(type(exc), exc, exc.__traceback__)
            await asyncio.sleep(_retry_delay(func, attempt, retries, exc))
            continue
        # COMMIT happens here; its failure is never retried (its outcome is unknown).
        uow.__exit__(None, None, None)
        return result


def _retry_delay(
    func: Callable[..., Any], attempt: int, retries: int, exc: BaseException
) -> float:
    """Seconds to wait before running `func` again; re-raise `exc` when it must not be."""
    if attempt > retries or not is_retryable(exc):
        raise exc
    delay = backoff_delay(attempt)
    log.warning(
        "Retrying %s (attempt %d of %d) in %.3f s after %s",
        getattr(func, "__qualname__", func),
        attempt + 1,
        retries + 1,
        delay,
        type(getattr(exc, "orig", exc)).__name__,
    )
    return delay
