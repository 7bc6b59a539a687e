"""Handlers by job kind, and the jobs a worker enqueues on a schedule.

A handler is a function of one `RunningJob`. It runs inside the unit of work that also
marks its job done (`get_current_session()` and `@with_db_session` functions join it),
so its database effects commit with the completion or not at all. A run can happen twice
(a lease that expired, a worker killed after its COMMIT was sent), but only one run's
effects commit; effects outside the database (an e-mail, a model API call) must be safe
to repeat.

An inline kind (`inline=True`, for short handlers) is claimed, run and completed in ONE
transaction: the claim's row lock is the lease. It costs one transaction per job instead
of two; a worker killed mid-run has its transaction rolled back by the server, so the job
is queued again at once (no lease to wait out) and its killed run is not counted in its
attempts. The price: the transaction stays open while the handler runs (a handler that
hangs holds its job until its connection ends: there is no lease expiry), a job that kills
its worker every time is retried forever, and the handler runs at READ COMMITTED (the
claim's level on MariaDB/MySQL; PostgreSQL's default). Keep the leased default for long
handlers, and for handlers that call out of the process.
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
    inline: bool = False


HANDLERS: dict[str, Handler] = {}
# Kinds a worker enqueues once per period (deduplicated across workers by key).
SCHEDULE: dict[str, timedelta] = {}


def register(
    kind: str,
    function: Callable[[RunningJob], None],
    *,
    lease: timedelta | None = None,
    retry_base: float = DEFAULT_RETRY_BASE,
    retry_cap: float = DEFAULT_RETRY_CAP,
    inline: bool = False,
) -> Handler:
    """Make `function` the handler of `kind`; a kind has one handler.

    `lease`: how long a run may take before another worker may run the job again
    (default 5 minutes). `retry_base`, `retry_cap`: seconds of backoff (see `retry_delay`).
    `inline`: claim, run and complete in one transaction (see the module's docstring).
    """
    if inline and lease is not None:
        raise ValueError(
            f"Job kind {kind!r} is inline: its row lock is its lease, so it takes no lease. "
            "Drop lease=, or drop inline=True to run it under a lease."
        )
    existing = HANDLERS.get(kind)
    # The same function defined again (a module reloaded) replaces itself.
    if existing is not None and _name(existing.function) != _name(function):
        raise ValueError(
            f"Job kind {kind!r} already has the handler {existing.function.__qualname__}; "
            "give the new one another kind."
        )
    lease = DEFAULT_LEASE if lease is None else lease
    if lease <= timedelta(0) or retry_base <= 0 or retry_cap < retry_base:
        raise ValueError("lease and retry_base must be positive, retry_cap >= retry_base.")
    entry = Handler(kind, function, lease, retry_base, retry_cap, inline)
    HANDLERS[kind] = entry
    return entry


def _name(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '')}"


def handler(
    kind: str,
    *,
    lease: timedelta | None = None,
    retry_base: float = DEFAULT_RETRY_BASE,
    retry_cap: float = DEFAULT_RETRY_CAP,
    inline: bool = False,
) -> Callable[[Callable[[RunningJob], None]], Callable[[RunningJob], None]]:
    """Decorator form of `register`."""

    def decorate(function: Callable[[RunningJob], None]) -> Callable[[RunningJob], None]:
        register(
            kind,
            function,
            lease=lease,
            retry_base=retry_base,
            retry_cap=retry_cap,
            inline=inline,
        )
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
