"""The Teacher's reply job: `teacher.reply`, enqueued with each student message.

Its handler answers the message (`services.teacher_replies.answer_message`) in the job's
unit of work, searching the course with `queries.search_material`: the reply and the
job's completion commit together, and a second run finds the reply already written.
"""

from __future__ import annotations

from studyhall.jobs.registry import RunningJob, handler
from studyhall.queries.material_search import search_material
from studyhall.services.teacher_replies import MESSAGE_ID, REPLY_JOB, answer_message


@handler(REPLY_JOB)
def reply(job: RunningJob) -> None:
    """Write the Teacher's reply to the message the job names."""
    answer_message(int(job.payload[MESSAGE_ID]), search_material)


__all__ = ["reply"]
