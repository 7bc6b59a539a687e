"""The awaited half of `on_commit` in async units of work: what the callbacks of a
committed unit returned to be awaited (coroutine functions' coroutines), awaited in the
owner's task once the unit has ended, in registration order.

They run with no current unit of work, sync or async (as plain callbacks do): one that
uses the database opens a unit of its own. A failure is logged and stops nothing. When the
owner is cancelled, at its end or while one of them runs, the commit stands and those not
yet started run in a task of their own (the cancelled owner does not wait for them).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import Any

from sqlalchemy.orm import Session

from studyhall.db.aio.context import current_async_session
from studyhall.db.transaction.callbacks import AWAITING, Callback
from studyhall.db.transaction.context import current_session
from studyhall.log import get_logger

log = get_logger(__name__)

Awaiting = deque[tuple[Callback, Awaitable[Any]]]

# The tasks of callbacks left by a cancelled owner, held until done (the loop keeps only
# weak references to tasks).
_detached: set[asyncio.Task[None]] = set()


def take_awaiting(session: Session) -> Awaiting | None:
    """What the callbacks of `session`'s committed unit left to await, if anything."""
    info = session.info
    awaiting = info.pop(AWAITING, None) if info else None
    return deque(awaiting) if awaiting else None


async def await_callbacks(awaiting: Awaiting) -> None:
    """Await each of `awaiting` in turn, with no current unit of work; log failures."""
    token = current_async_session.set(None)
    sync_token = current_session.set(None)
    try:
        while awaiting:
            callback, awaitable = awaiting.popleft()
            try:
                await awaitable
            except Exception:
                log.exception("on_commit callback %r failed; the commit stands", callback)
    except BaseException:
        detach(awaiting)  # a cancellation: the rest still run
        raise
    finally:
        current_session.reset(sync_token)
        current_async_session.reset(token)


def detach(awaiting: Awaiting | None) -> None:
    """Await what is left of `awaiting` in a task of its own."""
    if awaiting:
        task = asyncio.get_running_loop().create_task(await_callbacks(awaiting))
        _detached.add(task)
        task.add_done_callback(_detached.discard)


__all__ = ["Awaiting", "await_callbacks", "detach", "take_awaiting"]
