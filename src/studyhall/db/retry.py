"""Which errors are safe to retry with a fresh transaction, and how long to wait."""

from __future__ import annotations

import random

from sqlalchemy.exc import DBAPIError

from studyhall.db.error_translation import is_conflict

BACKOFF_BASE = 0.02
BACKOFF_CAP = 1.0


def is_retryable(exc: BaseException) -> bool:
    """True for deadlocks, lock timeouts, serialization failures, a busy SQLite file and
    lost connections (the conflicts that `error_translation` classifies).

    Each means the server rolled the transaction back (or will, once we do), so running
    it again is safe. Only call this for errors raised before COMMIT was sent: the outcome
    of a failed COMMIT is unknown, so retrying it could apply the work twice.
    """
    if not isinstance(exc, DBAPIError):
        return False
    return exc.connection_invalidated or is_conflict(exc)


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (1-based): exponential, capped, full jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security


__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "backoff_delay",
    "is_retryable",
]
