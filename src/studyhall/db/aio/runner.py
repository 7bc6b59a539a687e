"""Running a coroutine function inside an async unit of work: `@with_db_session` on
`async def`. Retries as the sync runner: an owning call with `retries=N` runs again in a
fresh transaction after a conflict or a connection lost before COMMIT was sent."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from studyhall.db.aio.context import active_async_session
from studyhall.db.aio.units import AsyncUnitOfWork
from studyhall.db.slow_statements import owner_name
from studyhall.db.transaction.runner import retry_delay, settle
from studyhall.db.transaction.units import Propagation

R = TypeVar("R")
AsyncUnitFactory = Callable[[], AsyncUnitOfWork]
CoroutineFunction = Callable[..., Coroutine[Any, Any, Any]]


def run_in_async_unit(
    func: CoroutineFunction,
    unit: AsyncUnitFactory,
    *,
    propagation: Propagation,
    retries: int,
) -> CoroutineFunction:
    """Wrap the coroutine function `func` so that each call runs in the unit `unit()` gives."""
    owner = owner_name(func)

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if retries and (propagation == "requires_new" or active_async_session() is None):
            return await _run_with_retries(func, unit, owner, retries, args, kwargs)
        uow = unit()
        uow.owner = owner
        async with uow:
            return await func(*args, **kwargs)

    return wrapper


async def _run_with_retries(
    func: CoroutineFunction,
    unit: AsyncUnitFactory,
    owner: str,
    retries: int,
    args: Any,
    kwargs: Any,
) -> Any:
    attempt = 0
    while True:
        attempt += 1
        uow = unit()
        uow.owner = owner
        uow.retries = attempt - 1
        session = await uow.__aenter__()
        try:
            result = await func(*args, **kwargs)
            await session.run_sync(settle)
        except BaseException as exc:
            await uow.__aexit__(type(exc), exc, exc.__traceback__)
            await asyncio.sleep(retry_delay(func, attempt, retries, exc))
            continue
        # COMMIT happens here; its failure is never retried (its outcome is unknown).
        await uow.__aexit__(None, None, None)
        return result


__all__ = ["AsyncUnitFactory", "run_in_async_unit"]
