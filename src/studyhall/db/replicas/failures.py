"""Errors of a replica: take it out of rotation, and mark the error so that a read-only
unit of work that met it runs again elsewhere (it wrote nothing, so that is safe)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

from studyhall.db import metrics
from studyhall.db.error_translation import classify

# Set on an error raised by a replica's connection that says the replica cannot serve.
REPLICA_FAILURE = "studyhall_replica_failure"
# Conditions (error_translation.classify) that take a replica out of rotation.
OUT_OF_ROTATION = frozenset(
    {"unreachable", "timeout", "lost", "overloaded", "login", "missing_role", "unknown_database"}
)
# PostgreSQL cancels a standby's query that conflicts with replay (SQLSTATE 40001, "due to
# conflict with recovery"): the replica is fine, the unit runs again elsewhere.
RECOVERY_CONFLICT = "conflict with recovery"


def watch_engine(engine: Engine, take_out: Callable[[str], None]) -> None:
    """Call `take_out(reason)` when a replica's connection fails; mark the error."""

    @event.listens_for(engine, "handle_error")
    def _replica_failed(context: ExceptionContext) -> None:
        if context.is_pre_ping:
            return  # the pool reconnects; a failure to reconnect comes here again
        error = context.sqlalchemy_exception
        orig = context.original_exception
        condition = classify(orig)
        if condition in OUT_OF_ROTATION or (error is not None and error.connection_invalidated):
            # The condition and the driver's class: no text that could hold a secret.
            take_out(f"{condition or 'lost'} ({type(orig).__module__}.{type(orig).__name__})")
        elif RECOVERY_CONFLICT not in str(orig):
            return
        if error is not None:
            replica_failure(error)


E = TypeVar("E", bound=BaseException)


def replica_failure(error: E) -> E:
    """Mark `error` as a replica's failure (a read-only unit that meets it runs again)."""
    setattr(error, REPLICA_FAILURE, True)
    return error


def record_rerun() -> None:
    """A read-only unit is about to run again because its replica failed."""
    if metrics.on:
        metrics.record_replica_routing("rerun_after_replica_failure")


def failed_on_replica(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a replica's failure (see `watch_engine`)."""
    seen = 0
    cause: BaseException | None = error
    while cause is not None and seen < 5:
        if getattr(cause, REPLICA_FAILURE, False):
            return True
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return False


__all__ = [
    "OUT_OF_ROTATION",
    "REPLICA_FAILURE",
    "failed_on_replica",
    "record_rerun",
    "watch_engine",
]
