"""The slow-statement log: a statement slower than `DB_SLOW_MS` is logged once at WARNING.

The line gives the duration, the owner of the unit of work that ran it (the function
decorated by `@with_db_session` that owns the unit, or the code that opened
`get_session()`; units of work record it in `unit_owner`) and the SQL text with its
placeholders: never a parameter value, and never a secret of the settings.

The timer wraps the engine's own dialect methods that run the driver's execute
(`do_execute`, `do_executemany`, `do_execute_no_params`), between two clock readings: one
function call per statement. It is not a listener of the dialect's events of the same
names, so those stay the user's: SQLAlchemy calls every such listener first, in order,
and stops at one that returns True (it ran the statement itself); only if none does, it
calls the wrapped method. A listener that takes over through the dialect's method
(`context.dialect.do_execute(...)`) is timed; one that calls the cursor itself is not.
An engine-level `before_cursor_execute` / `after_cursor_execute` pair would instead move
every statement, BEGIN and COMMIT onto SQLAlchemy's slower connection-event path
(benchmarks/session_overhead.py measures both). What is timed is the driver's execute:
the whole result on MySQL / MariaDB and PostgreSQL (client-side cursors), up to the first
row on SQLite.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine

from studyhall.config import DatabaseSettings
from studyhall.log import get_logger

log = get_logger(__name__)

MAX_STATEMENT_CHARS = 500
NO_OWNER = "(no unit of work)"
_MARK = "_studyhall_slow_statements"
# The dialect's methods that run the driver's execute.
_EXECUTES = ("do_execute", "do_executemany", "do_execute_no_params")

# The qualified name of the function (or code) that owns the running unit of work; set by
# the owner for the unit's life, its token reset when the unit ends.
unit_owner: ContextVar[str | None] = ContextVar("studyhall.unit_owner", default=None)


def owner_name(func: Callable[..., Any]) -> str:
    """`module.qualname` of `func`, as the log names an owner."""
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', func)}"


def describe(statement: str, secrets: Iterable[str] = ()) -> str:
    """`statement` on one line, every secret masked, cut to about MAX_STATEMENT_CHARS."""
    text = " ".join(statement.split())
    for secret in secrets:
        text = text.replace(secret, "***")
    if len(text) > MAX_STATEMENT_CHARS:
        text = text[:MAX_STATEMENT_CHARS] + " ..."
    return text


def install(engine: Engine, settings: DatabaseSettings) -> None:
    """Time every statement of `engine`; nothing is installed when `slow_ms` is 0."""
    if settings.slow_ms <= 0 or is_installed(engine):
        return
    threshold = settings.slow_ms / 1000
    secrets = tuple(settings.secrets)
    clock = time.perf_counter

    def report(elapsed: float, statement: str) -> None:
        log.warning(
            "Slow statement (%.0f ms) in %s: %s",
            elapsed * 1000,
            unit_owner.get() or NO_OWNER,
            describe(statement, secrets),
        )

    # The dialect's own signatures, `context` as a keyword too: the reconnect recipe in
    # SQLAlchemy's FAQ calls `context.dialect.do_execute(cursor, statement, context=...)`.
    dialect = engine.dialect
    execute, executemany, execute_no_params = (getattr(dialect, n) for n in _EXECUTES)

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        start = clock()
        try:
            execute(cursor, statement, parameters, context)
        finally:
            elapsed = clock() - start
            if elapsed > threshold:
                report(elapsed, statement)

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        start = clock()
        try:
            executemany(cursor, statement, parameters, context)
        finally:
            elapsed = clock() - start
            if elapsed > threshold:
                report(elapsed, statement)

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        start = clock()
        try:
            execute_no_params(cursor, statement, context)
        finally:
            elapsed = clock() - start
            if elapsed > threshold:
                report(elapsed, statement)

    # Instance attributes of this engine's dialect (each engine has its own), in front of
    # its class's methods.
    timers = (do_execute, do_executemany, do_execute_no_params)
    for name, timer in zip(_EXECUTES, timers, strict=True):
        setattr(timer, _MARK, True)
        setattr(dialect, name, timer)


def is_installed(engine: Engine) -> bool:
    """Whether `engine` logs slow statements."""
    return getattr(engine.dialect.do_execute, _MARK, False) is True


__all__ = [
    "MAX_STATEMENT_CHARS",
    "NO_OWNER",
    "describe",
    "install",
    "is_installed",
    "owner_name",
    "unit_owner",
]
