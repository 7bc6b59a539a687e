"""Handlers by job kind, and the jobs a worker enqueues on a schedule.

A handler is a function of one `RunningJob`. It runs inside the unit of work that also
marks its job done (`get_current_session()` and `@with_db_session` functions join it),
so its database effects commit with the completion or not at all. A run can happen twice
(a lease that expired, a worker killed after its COMMIT was sent), but only one run's
effects commit; effects outside the database (an e-mail, a model API call) must be safe
to repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_RETRY_BASE = 2.0  # seconds before the second attempt, at most
DEFAULT_RETRY_CAP = 600.0  # seconds between attempts, at most


@dataclass(frozen=True)
class RunningJob:
    """What a handler is given: the job as claimed for this run."""

    id: int
    kind: str
    payload: Any
    attempt: int  # 1 on the first run
    max_attempts: int
    key: str | None
    # This run's lease: a token new at every claim; completing checks it is still the job's.
    lease_token: str


@dataclass(frozen=True)
class Handler:
    """A kind's handler and how its runs are leased and retried."""

    kind: str
    function: Callable[[RunningJob], None]
    lease: timedelta = DEFAULT_LEASE
    retry_base: float = DEFAULT_RETRY_BASE
    retry_cap: float = DEFAULT_RETRY_CAP


HANDLERS: dict[str, Handler] = {}
# Kinds a worker enqueues once per period (deduplicated across workers by key).
SCHEDULE: dict[str, timedelta] = {}


def register(
    kind: str,
    function: Callable[[RunningJob], None],
    *,
    lease: timedelta = DEFAULT_LEASE,
    retry_base: float = DEFAULT_RETRY_BASE,
    retry_cap: float = DEFAULT_RETRY_CAP,
) -> Handler:
    """Make `function` the handler of `kind`; a kind has one handler.

    `lease`: how long a run may take before another worker may run the job again.
    `retry_base`, `retry_cap`: seconds of backoff (see `retry_delay`).
    """
    existing = HANDLERS.get(kind)
    # The same function defined again (a module reloaded) replaces itself.
    if existing is not None and _name(existing.function) != _name(function):
        raise ValueError(
            f"Job kind {kind!r} already has the handler {existing.function.__qualname__}; "
            "give the new one another kind."
        )
    if lease <= timedelta(0) or retry_base <= 0 or retry_cap < retry_base:
        raise ValueError("lease and retry_base must be positive, retry_cap >= retry_base.")
    entry = Handler(kind, function, lease, retry_base, retry_cap)
    HANDLERS[kind] = entry
    return entry


def _name(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '')}"


def handler(
    kind: str,
    *,
    lease: timedelta = DEFAULT_LEASE,
    retry_base: float = DEFAULT_RETRY_BASE,
    retry_cap: float = DEFAULT_RETRY_CAP,
) -> Callable[[Callable[[RunningJob], None]], Callable[[RunningJob], None]]:
    """Decorator form of `register`."""

    def decorate(function: Callable[[RunningJob], None]) -> Callable[[RunningJob], None]:
        register(kind, function, lease=lease, retry_base=retry_base, retry_cap=retry_cap)
        return function

    return decorate


def schedule(kind: str, every: timedelta) -> None:
    """Have running workers enqueue a `kind` job once every `every` (e.g. closing idle
    sessions). One job per period however many workers run: its key names the period."""
    if every < timedelta(seconds=1):
        raise ValueError(f"A schedule runs at most once a second; {kind!r} asked {every}.")
    SCHEDULE[kind] = every


__all__ = [
    "DEFAULT_LEASE",
    "HANDLERS",
    "Handler",
    "RunningJob",
    "SCHEDULE",
    "handler",
    "register",
    "schedule",
]
