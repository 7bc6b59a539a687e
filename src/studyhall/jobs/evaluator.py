"""The Evaluator's job: `evaluator.evaluate`, enqueued when a study session is completed.

Its handler evaluates the session (`services.session_evaluations.evaluate_session`) in
the job's unit of work: the evaluation and the job's completion commit together, and a
second run finds the evaluation already written.
"""

from __future__ import annotations

from studyhall.jobs.registry import RunningJob, handler
from studyhall.services.session_evaluations import EVALUATION_JOB, SESSION_ID, evaluate_session


@handler(EVALUATION_JOB)
def evaluate(job: RunningJob) -> None:
    """Write the Evaluator's assessment of the session the job names."""
    evaluate_session(int(job.payload[SESSION_ID]))


__all__ = ["evaluate"]
