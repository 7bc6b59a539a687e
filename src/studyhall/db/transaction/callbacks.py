"""`on_commit(callback)`: run code after the unit of work's real COMMIT succeeds.

A callback registered inside a savepoint is dropped when that savepoint rolls back;
every callback is dropped when the whole transaction rolls back. Callbacks run in
registration order once the owning unit of work has closed its session, so a callback
that uses the database opens a unit of work of its own. A failing callback is logged
and does not undo the commit or stop the others.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from studyhall.db.session import StudyhallSession, descends_from
from studyhall.db.transaction.context import (
    active_session,
    current_session,
    get_current_session,
)
from studyhall.log import get_logger

log = get_logger(__name__)

PENDING = "studyhall.on_commit.pending"
READY = "studyhall.on_commit.ready"

Callback = Callable[[], Any]


def on_commit(callback: Callback, session: Session | None = None) -> None:
    """Run `callback()` after the current unit of work commits. Requires an active session.

    Also from async code inside an async unit: registering sends nothing to the server."""
    session = session or active_session() or get_current_session()
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
    """Run and forget the callbacks of transactions that committed; log any failure."""
    ready: list[Callback] | None = session.info.pop(READY, None)
    session.info.pop(PENDING, None)
    if ready:
        # After a requires_new unit the outer session is current again; a callback must
        # not join it (nor, by failing, roll it back), so it runs with no current session.
        contextvars.copy_context().run(_run_detached, ready)


def _run_detached(ready: list[Callback]) -> None:
    current_session.set(None)
    for callback in ready:
        try:
            callback()
        except Exception:
            log.exception("on_commit callback %r failed; the commit stands", callback)


__all__ = [
    "Callback",
    "PENDING",
    "READY",
    "on_commit",
    "run_ready_callbacks",
]
