"""Record the SQL statements a block of code sends, for tests and debugging.

`record_statements(database)` lists them; `assert_num_statements(n)` fails when a block
sends another number (Django's `assertNumQueries`). Both count what goes through a DBAPI
cursor on every backend (SQLAlchemy's `before_cursor_execute`): the SQL text with its
placeholders, never a parameter value; an executemany (or one batch of an insertmanyvalues)
is one statement.

Not counted by default: transaction control. BEGIN, COMMIT and ROLLBACK are not cursor
executes in SQLAlchemy (the driver's `begin()`/`commit()`/`rollback()`, or the SQLite
backend's own BEGIN), so they are never seen. SAVEPOINT, RELEASE SAVEPOINT and ROLLBACK
TO SAVEPOINT are cursor executes, but they are left out unless `transaction_control=True`:
inside the test plugin's rolled-back transaction every unit of work is a SAVEPOINT where
production sends a BEGIN, and a count must not differ between the two.

The listener is attached for the block only and removed afterwards, and the engine is put
back on SQLAlchemy's fast path (no connection events) when no other listener remains, so
recording costs nothing outside the block.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from studyhall.db import default
from studyhall.db.engine import Database

TRANSACTION_CONTROL = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)

# Attaching and removing listeners, and the fast-path flag they share, one recorder at a time.
_attach_lock = threading.Lock()


class StatementRecorder:
    """The statements recorded so far, in the order they were sent."""

    def __init__(self, *, all_threads: bool = False, transaction_control: bool = False) -> None:
        self.statements: list[str] = []
        self.all_threads = all_threads
        self.transaction_control = transaction_control
        self._thread = threading.get_ident()
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """How many statements were recorded."""
        return len(self.statements)

    def clear(self) -> None:
        """Forget what was recorded so far (e.g. after a warm-up call)."""
        with self._lock:
            self.statements.clear()

    def listing(self) -> str:
        """The statements, numbered, one per paragraph."""
        return "\n".join(
            f"{n}. {statement.strip()}" for n, statement in enumerate(self.statements, 1)
        )

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not self.all_threads and threading.get_ident() != self._thread:
            return
        if not self.transaction_control and TRANSACTION_CONTROL.match(statement):
            return
        with self._lock:
            self.statements.append(statement)


def _engine_of(target: Engine | Database | None) -> Engine:
    if target is None:
        return default.database().engine
    if isinstance(target, Database):
        return target.engine
    return target


@contextmanager
def record_statements(
    target: Engine | Database | None = None,
    *,
    all_threads: bool = False,
    transaction_control: bool = False,
) -> Iterator[StatementRecorder]:
    """Yield a recorder of the statements sent through `target` inside the block.

    `target` defaults to the process's default Database. Only the calling thread's
    statements are recorded unless `all_threads=True`; SAVEPOINTs only with
    `transaction_control=True` (see the module's docstring).
    """
    engine = _engine_of(target)
    recorder = StatementRecorder(all_threads=all_threads, transaction_control=transaction_control)
    with _attach_lock:
        had_events = engine._has_events
        event.listen(engine, "before_cursor_execute", recorder._record)
    try:
        yield recorder
    finally:
        with _attach_lock:
            event.remove(engine, "before_cursor_execute", recorder._record)
            # SQLAlchemy leaves the engine on its slower event path once any connection
            # event was listened for; put it back when nothing listens any more.
            if not had_events and not _listened(engine):
                engine._has_events = False


def _listened(engine: Engine) -> bool:
    """Whether any connection event of `engine` still has a listener."""
    dispatch: Any = engine.dispatch  # its per-event attributes are not typed
    return any(getattr(dispatch, name) for name in dispatch._event_names)


@contextmanager
def assert_num_statements(
    expected: int,
    target: Engine | Database | None = None,
    *,
    all_threads: bool = False,
    transaction_control: bool = False,
) -> Iterator[StatementRecorder]:
    """Fail with AssertionError, listing the statements, when the block sends another number.

    The same options as `record_statements`. A block that raises is not checked.
    """
    with record_statements(
        target, all_threads=all_threads, transaction_control=transaction_control
    ) as recorder:
        yield recorder
    if recorder.count != expected:
        raise AssertionError(
            f"Expected {expected} statement(s), {recorder.count} were sent:\n{recorder.listing()}"
        )


__all__ = [
    "StatementRecorder",
    "assert_num_statements",
    "record_statements",
]
