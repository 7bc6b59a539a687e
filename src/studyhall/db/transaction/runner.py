"""Running a function inside a unit of work: the engine of `@with_db_session`.

A joined call takes a fast path (no context manager, no allocation beyond a counter);
an owning call with `retries=N` runs again in a fresh transaction after a conflict, a
connection lost before COMMIT was sent (never after) or one that could not be opened yet
(`retry.is_retryable` says which).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from studyhall.db.metrics import record_retry
from studyhall.db.replicas.failures import failed_on_replica, record_rerun
from studyhall.db.retry import backoff_delay, is_retryable
from studyhall.db.session import BROKEN, DEPTH, check_sync_use, refuse_broken
from studyhall.db.slow_statements import owner_name
from studyhall.db.transaction.context import active_session
from studyhall.db.transaction.units import Propagation, UnitOfWork, fail_joined
from studyhall.errors import TransactionRolledBackError
from studyhall.log import get_logger

log = get_logger(__name__)

R = TypeVar("R")
UnitFactory = Callable[[], UnitOfWork]
# Runs of a read-only unit in all, when replicas fail under it: each failure takes one out.
MAX_REPLICA_RUNS = 4


def run_in_unit(
    func: Callable[..., Any],
    unit: UnitFactory,
    *,
    propagation: Propagation,
    read_only: bool,
    retries: int,
) -> Callable[..., Any]:
    """Wrap `func` so that each call runs in the unit of work `unit()` gives."""
    # A read-only call goes through UnitOfWork even when it joins: that is where a
    # joined unit of work is made read-only while the call runs.
    joins = propagation in ("required", "mandatory") and not read_only
    owner = owner_name(func)  # what the slow-statement log names as the unit's owner

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current = active_session()
        if current is not None and getattr(current, "runs_async", False):
            check_sync_use(current, propagation)
        if joins and current is not None:
            # The hot path of a joined call.
            info = current.info
            info[DEPTH] = info.get(DEPTH, 0) + 1
            try:
                return func(*args, **kwargs)
            except BaseException as exc:
                fail_joined(current, exc)
                raise
            finally:
                info[DEPTH] -= 1
        if retries and (current is None or propagation == "requires_new"):
            return _run_with_retries(func, unit, retries, args, kwargs)
        if read_only:
            return _run_read_only(func, unit, owner, args, kwargs)
        with _owned(unit(), owner):
            return func(*args, **kwargs)

    return wrapper


def _owned(uow: UnitOfWork, owner: str) -> UnitOfWork:
    uow.owner = owner
    return uow


def _run_read_only(
    func: Callable[..., R], unit: UnitFactory, owner: str, args: Any, kwargs: Any
) -> R:
    """Run a read-only unit; when its read replica fails, run it again (up to
    MAX_REPLICA_RUNS runs in all): it wrote nothing, and the failed replica is out of
    rotation now, so the next run goes to another replica or to the primary."""
    run = 1
    while True:
        try:
            with _owned(unit(), owner):
                return func(*args, **kwargs)
        except Exception as exc:
            if run == MAX_REPLICA_RUNS or not failed_on_replica(exc):
                raise
            error = exc
        run += 1
        record_rerun()
        log.warning(
            "Running %s again: its read replica failed (%s)",
            getattr(func, "__qualname__", func),
            type(error).__name__,
        )


def _run_with_retries(
    func: Callable[..., R], unit: UnitFactory, retries: int, args: Any, kwargs: Any
) -> R:
    attempt = 0
    owner = owner_name(func)
    while True:
        attempt += 1
        uow = _owned(unit(), owner)
        uow.retries = attempt - 1
        session = uow.__enter__()
        try:
            result = func(*args, **kwargs)
            settle(session)
        except BaseException as exc:
            uow.__exit__(type(exc), exc, exc.__traceback__)
            if attempt <= MAX_REPLICA_RUNS and failed_on_replica(exc):
                record_rerun()  # read-only, on a replica now out of rotation: at once
                continue
            time.sleep(retry_delay(func, attempt, retries, exc))
            continue
        # COMMIT happens here; its failure is never retried (its outcome is unknown), but
        # for a read-only unit on a replica: it wrote nothing, whatever the outcome.
        try:
            uow.__exit__(None, None, None)
        except Exception as exc:
            if attempt > MAX_REPLICA_RUNS or not failed_on_replica(exc):
                raise
            record_rerun()
            continue
        return result


def settle(session: Session) -> None:
    """Raise, while a retry is still safe, what would otherwise fail at COMMIT: a
    rollback-only mark (so a swallowed conflict is retried too) or a conflicting flush."""
    mark = session.info.get(BROKEN)
    if mark is not None:
        refuse_broken(mark)
    session.flush()


def retry_delay(func: Callable[..., Any], attempt: int, retries: int, exc: BaseException) -> float:
    """Seconds to wait before running `func` again; re-raise `exc` when it must not be."""
    cause = exc.__cause__ if isinstance(exc, TransactionRolledBackError) else exc
    if attempt > retries or cause is None or not is_retryable(cause):
        raise exc
    delay = backoff_delay(attempt)
    record_retry()  # a no-op when metrics are off
    log.warning(
        "Retrying %s (attempt %d of %d) in %.3f s after %s",
        getattr(func, "__qualname__", func),
        attempt + 1,
        retries + 1,
        delay,
        type(getattr(cause, "orig", cause)).__name__,
    )
    return delay


__all__ = [
    "UnitFactory",
    "retry_delay",
    "run_in_unit",
    "settle",
]
