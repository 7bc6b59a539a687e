"""Background jobs: a transactional job queue in the database, its workers and handlers.

- `enqueue(kind, payload, key=..., run_after=...)` writes a job in the caller's unit of
  work, `enqueue_many(kind, payloads)` many with multi-row INSERTs (they live in
  `studyhall.services.job_queue`, so services can enqueue);
- `@handler(kind)` registers what runs it (`registry`); `schedule(kind, every)` has
  workers enqueue it periodically;
- `Worker` claims due jobs with a lease (`claim`) and runs each handler in a unit of work
  that also marks the job done, fenced by the lease (`run`); an inline kind
  (`@handler(kind, inline=True)`, for short handlers) is claimed, run and completed in one
  transaction instead; failures back off and retry (`retry`), then the job is dead;
- `job_counts`, `retry_dead` for operators (`admin`); `studyhall-db jobs` and
  `studyhall-db worker` are the command line.
"""

from studyhall.jobs.admin import job_counts, retry_dead
from studyhall.jobs.builtin import load_builtin_handlers
from studyhall.jobs.registry import HANDLERS, Handler, RunningJob, handler, register, schedule
from studyhall.jobs.retry import retry_delay
from studyhall.jobs.run import Outcome, run_job, run_next
from studyhall.jobs.worker import Worker
from studyhall.models.job import Job, JobStatus
from studyhall.services.job_queue import DOORBELL, enqueue, enqueue_many

__all__ = [
    "DOORBELL",
    "HANDLERS",
    "Handler",
    "Job",
    "JobStatus",
    "Outcome",
    "RunningJob",
    "Worker",
    "enqueue",
    "enqueue_many",
    "handler",
    "job_counts",
    "load_builtin_handlers",
    "register",
    "retry_dead",
    "retry_delay",
    "run_job",
    "run_next",
    "schedule",
]
