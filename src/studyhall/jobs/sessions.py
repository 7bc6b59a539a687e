"""The periodic job that closes idle study sessions: `sessions.close_idle`.

Every running worker enqueues it once per `CLOSE_IDLE_EVERY` (`registry.schedule`; one
job per period however many workers run). Its handler completes the active sessions
idle past `config.session_idle_limit()` at their last activity
(`lifecycle.close_idle`), in the job's unit of work. How late it runs changes nothing
recorded: a session ends at its last activity, whenever it is found idle.
"""

from __future__ import annotations

from datetime import timedelta

from studyhall.jobs.registry import RunningJob, handler, schedule
from studyhall.log import get_logger
from studyhall.services.study_session import lifecycle

log = get_logger(__name__)

CLOSE_IDLE_JOB = "sessions.close_idle"
# A session is closed at most this long after it passed the idle limit.
CLOSE_IDLE_EVERY = timedelta(minutes=5)


@handler(CLOSE_IDLE_JOB)
def close_idle(job: RunningJob) -> None:
    """Complete the sessions idle past the configured limit (the rest of a large batch
    at the next period)."""
    closed = lifecycle.close_idle()
    if closed:
        log.info("closed %d idle study session(s): %s", len(closed), closed)


schedule(CLOSE_IDLE_JOB, CLOSE_IDLE_EVERY)


__all__ = ["CLOSE_IDLE_EVERY", "CLOSE_IDLE_JOB", "close_idle"]
