"""How long a failed job waits before its next attempt: exponential backoff, full jitter."""

from __future__ import annotations

import random


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after the `attempt`-th run failed (1 for the first run).

    The ceiling doubles from `base` with each attempt, up to `cap`; the delay is drawn
    between half the ceiling and the ceiling, so jobs that failed together (a server
    that went away) do not all come back at the same moment.
    """
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))
    return random.uniform(ceiling / 2, ceiling)


__all__ = ["retry_delay"]
