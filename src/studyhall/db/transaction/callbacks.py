"""`on_commit(callback)`: run code after the unit of work's real COMMIT succeeds.

A callback registered inside a savepoint is dropped when that savepoint rolls back;
every callback is dropped when the whole transaction rolls back. Callbacks run in
registration order once the owning unit of work has closed its session, so a callback
that uses the database opens a unit of work of its own. A failing callback is logged
and does not undo the commit or stop the others.

In an async unit of work a callback may be a coroutine function (or return an
awaitable): what it returns is awaited after the unit's end, in the owner's task
(`studyhall.db.aio.callbacks`); plain callbacks run at the end, as in sync units.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from studyhall.db.session import StudyhallSession, descends_from
from studyhall.db.transaction.context import (
    active_session,
    current_session,
    get_current_session,
)
from studyhall.errors import AsyncContextError
from studyhall.log import get_logger

log = get_logger(__name__)

PENDING = "studyhall.on_commit.pending"
READY = "studyhall.on_commit.ready"
# What the callbacks of an async unit returned to be awaited: (callback, awaitable) pairs.
AWAITING = "studyhall.on_commit.awaiting"

Callback = Callable[[], Any]

SYNC_UNIT_MESSAGE = (
    "on_commit got a coroutine function ({callback!r}) in a synchronous unit of work, where "
    "nothing would await it. Register it inside an async unit (`@with_db_session` on an "
    "`async def`, or `async with DatabaseManager.get_async_session()`), or pass a plain "
    "function."
)


def on_commit(callback: Callback, session: Session | None = None) -> None:
    """Run `callback()` after the current unit of work commits. Requires an active session.

    Also from async code inside an async unit: registering sends nothing to the server,
    and `callback` may be a coroutine function, awaited in the unit's owner task."""
    session = session or active_session() or get_current_session()
    if inspect.iscoroutinefunction(callback) and not getattr(session, "runs_async", False):
        raise AsyncContextError(SYNC_UNIT_MESSAGE.format(callback=callback))
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:
        transaction = session.begin()
    session.info.setdefault(PENDING, []).append((transaction, callback))


@event.listens_for(StudyhallSession, "after_commit")
def _promote(session: Session) -> None:
    # after_commit also fires when a savepoint is released; only the real COMMIT of the
    # outermost transaction may promote, or an outer rollback would still run them.
    if session.in_nested_transaction():
        return
    pending = session.info.pop(PENDING, None)
    if pending:
        session.info.setdefault(READY, []).extend(callback for _, callback in pending)


@event.listens_for(StudyhallSession, "after_soft_rollback")
def _drop(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(PENDING)
    if not pending:
        return
    if previous_transaction.nested:
        session.info[PENDING] = [
            (tx, cb) for tx, cb in pending if not descends_from(tx, previous_transaction)
        ]
    elif previous_transaction.parent is None:
        session.info.pop(PENDING, None)


def run_ready_callbacks(session: Session) -> None:
    """Run and forget the callbacks of transactions that committed; log any failure. In an
    async unit, what they return to be awaited is left in `info[AWAITING]`."""
    ready: list[Callback] | None = session.info.pop(READY, None)
    session.info.pop(PENDING, None)
    if ready:
        # After a requires_new unit the outer session is current again; a callback must
        # not join it (nor, by failing, roll it back), so it runs with no current session.
        awaiting = contextvars.copy_context().run(_run_detached, ready)
        if awaiting:
            if getattr(session, "runs_async", False):
                session.info[AWAITING] = awaiting
            else:
                _refuse_awaitables(awaiting)


def _run_detached(ready: list[Callback]) -> list[tuple[Callback, Awaitable[Any]]]:
    current_session.set(None)
    awaiting = []
    for callback in ready:
        try:
            result = callback()
        except Exception:
            log.exception("on_commit callback %r failed; the commit stands", callback)
        else:
            if inspect.isawaitable(result):
                awaiting.append((callback, result))
    return awaiting


def _refuse_awaitables(awaiting: list[tuple[Callback, Awaitable[Any]]]) -> None:
    # A plain callback of a sync unit returned something to await (a lambda calling an
    # async function): nothing here can await it.
    for callback, awaitable in awaiting:
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()  # no "coroutine was never awaited" warning: the error says it
        log.error(
            "on_commit callback %r returned an awaitable in a synchronous unit of work; it "
            "was not awaited. Register it inside an async unit of work.",
            callback,
        )


__all__ = [
    "AWAITING",
    "Callback",
    "PENDING",
    "READY",
    "on_commit",
    "run_ready_callbacks",
]
