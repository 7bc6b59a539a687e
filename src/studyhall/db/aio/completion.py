"""Run a unit's last step to its end even when the task that waits for it is cancelled.

A ROLLBACK, COMMIT or close cut short by a second cancellation would leave a connection
in an unknown state, or a unit committed without anyone knowing. The step runs as a task
of its own; the waiting task swallows its cancellations until the step is done, then
re-raises the first (so `asyncio.timeout` still turns it into TimeoutError).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from greenlet import getcurrent

from studyhall.log import get_logger

log = get_logger(__name__)

T = TypeVar("T")


def _wake(waiter: asyncio.Future[None], _: asyncio.Task[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _wait_through_cancellations(task: asyncio.Task[Any]) -> asyncio.CancelledError | None:
    """Wait until `task` is done, whatever cancellations this task gets meanwhile; return
    the first of them (None when there was none)."""
    loop = task.get_loop()
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        # A future of our own, woken by the task's end: a cancellation of this task
        # cancels it, never `task`. (asyncio.wait would do, at twice the cost: a set, a
        # timeout handle and callbacks at every unit's end.)
        waiter = loop.create_future()
        wake = functools.partial(_wake, waiter)
        task.add_done_callback(wake)
        try:
            await waiter
        except asyncio.CancelledError as exc:
            cancelled = cancelled or exc
            task.remove_done_callback(wake)
    return cancelled


async def run_to_completion(step: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `step()` in a task sharing this task's context and wait for its end, whatever
    cancellations come meanwhile; then raise the first cancellation, else its outcome."""
    # The very Context object of this task (not a copy): the step resets ContextVar tokens
    # that were set in it. The two tasks never run at once: this one only waits.
    context = getcurrent().gr_context
    task = asyncio.get_running_loop().create_task(step(), context=context)
    cancelled = await _wait_through_cancellations(task)
    if cancelled is not None:
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "Ending a cancelled unit of work failed (%s); the cancellation goes on",
                type(task.exception()).__name__,
            )
        raise cancelled
    return task.result()


async def make_to_completion(
    make: Callable[[], Coroutine[Any, Any, T]],
    discard: Callable[[T], Coroutine[Any, Any, Any]],
) -> T:
    """Run `make()` (e.g. opening a connection) to its end even when cancelled meanwhile;
    when cancelled, `discard` what it made (close the connection) and raise the
    cancellation. A connect cut short would leave a half-open socket, and a server
    session, until the garbage collector finds them."""
    task = asyncio.get_running_loop().create_task(make())
    cancelled = await _wait_through_cancellations(task)
    if cancelled is None:
        return task.result()
    if not task.cancelled() and task.exception() is None:
        made = task.result()
        await run_to_completion(lambda: discard(made))
    raise cancelled


__all__ = ["make_to_completion", "run_to_completion"]
