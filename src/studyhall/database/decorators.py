"""`@with_db_session`: run a function inside a unit of work."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

from studyhall.database.session_context import _current_session
from studyhall.database.unit_of_work import Propagation, check_propagation, fail_joined

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
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def with_db_session(
    fn: Callable[P, R] | None = None,
    /,
    *,
    propagation: Propagation = "required",
    read_only: bool = False,
    isolation_level: str | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the function in a unit of work: join the active one, or open (and own) one.

    Usable bare (`@with_db_session`) or with options (`@with_db_session(propagation=...)`).
    The owner commits when the function returns and rolls back when it raises; a joined
    call that raises rolls back the unit of work it joined. `async def` functions get a
    session of their own task.
    """
    check_propagation(propagation)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        from studyhall.database.setup import DatabaseManager

        def unit() -> Any:
            database = DatabaseManager.initialize()
            return database.unit_of_work(
                propagation, read_only=read_only, isolation_level=isolation_level
            )

        joins = propagation == "required"

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with unit():
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            current = _current_session.get()
            if joins and current is not None:
                # The hot path of a joined call: no context manager, no allocation.
                try:
                    return func(*args, **kwargs)
                except BaseException:
                    fail_joined(current)
                    raise
            with unit():
                return func(*args, **kwargs)

        return wrapper

    if fn is not None:
        return decorate(fn)
    return decorate
