"""`@with_db_session`: run a function inside a unit of work (see `transaction`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import ParamSpec, TypeVar, cast, overload

from studyhall.db import default
from studyhall.db.aio import AsyncUnitOfWork, run_in_async_unit
from studyhall.db.transaction import (
    Propagation,
    UnitOfWork,
    check_propagation,
    run_in_unit,
)
from studyhall.errors import ConfigurationError

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
    call that raises marks the unit it joined rollback-only. With `retries=N`, a call that
    owns its unit of work is run again in a fresh transaction, up to N times, after a
    deadlock, lock timeout, serialization failure or lost connection (never after
    COMMIT was sent), and after a connection that could not be opened for a reason that
    may pass: nothing listening (MySQL 2002/2003/2005, "connection refused"), a connect
    timeout, a server starting up, or no host accepting writes yet (a PostgreSQL failover
    under target_session_attrs=read-write). A refused login or an unknown database is
    raised at once. Runs are spaced by a backoff doubling from 0.02 s, capped at 1 s, with
    jitter: N retries wait at least 0.02 * (2**N - 1) / 2 s up to N = 6 (0.63 s), then
    0.5 s more per retry; a PostgreSQL failover measured 0.2-0.5 s here, so retries=8
    (1.6-3.3 s) covers one with room. On an `async def` the unit is an async one
    (`AsyncUnitOfWork`, keyed to the task): the coroutine uses
    `get_current_async_session()`.
    """
    check_propagation(propagation)
    if not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"retries={retries!r} must be a whole number >= 0.")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(func):

            def async_unit() -> AsyncUnitOfWork:
                database = default.database().async_database()
                return database.unit_of_work(
                    propagation, read_only=read_only, isolation_level=isolation_level
                )

            wrapped_async = run_in_async_unit(
                func, async_unit, propagation=propagation, retries=retries
            )
            return cast(Callable[P, R], wrapped_async)

        def unit() -> UnitOfWork:
            return default.database().unit_of_work(
                propagation, read_only=read_only, isolation_level=isolation_level
            )

        wrapped: Callable[P, R] = run_in_unit(
            func, unit, propagation=propagation, read_only=read_only, retries=retries
        )
        return wrapped

    if fn is not None:
        return decorate(fn)
    return decorate


__all__ = ["with_db_session"]
