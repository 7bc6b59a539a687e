"""What an open study session page polls for, as JSON (static/study_session.js).

    GET /study_sessions/<id>/messages?after=<message id>   messages newer than that one
    GET /study_sessions/<id>/evaluation                    the evaluation, once written

The Teacher's reply and the Evaluator's assessment are written by background jobs after
the page was served; the page asks for them instead of being reloaded. Polling rather
than server-sent events: the jobs may run in another process with no channel back to
this one, so the server would poll the database for each open page anyway, and a stream
would hold one of the server's few threads (STUDYHALL_THREADS) per open page while a
poll is a short request like any other. The same rules as the page: a student's own
session only (another's is a 404), the same sign-in check. Messages come keyset by id,
oldest first, at most a page of them per request (`more` says whether to ask again).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, request

from studyhall.app.access import MAX_ID, own_study_session
from studyhall.app.auth import current_user
from studyhall.app.student import MESSAGE_PAGE, student_only
from studyhall.database import with_db_session
from studyhall.models import Student
from studyhall.queries import messages_after

bp = Blueprint("session_updates", __name__)

MESSAGE_ID = re.compile(r"[0-9]{1,10}")


@bp.get("/study_sessions/<id:session_id>/messages")
@with_db_session
@student_only
def messages(session_id: int) -> dict[str, Any]:
    """{"messages": [{"id", "role", "author", "content"}, ...], "more": bool, "status"}."""
    after = _after_id()
    found = own_study_session(current_user(Student), session_id)
    rows = messages_after(found.id, after, MESSAGE_PAGE + 1)
    return {
        "messages": [
            {
                "id": row.id,
                "role": row.role.value,
                "author": row.role.value.capitalize(),
                "content": row.content,
            }
            for row in rows[:MESSAGE_PAGE]
        ],
        "more": len(rows) > MESSAGE_PAGE,
        "status": found.status.value,
    }


@bp.get("/study_sessions/<id:session_id>/evaluation")
@with_db_session
@student_only
def evaluation(session_id: int) -> dict[str, Any]:
    """{"status", "evaluation": {"score", "feedback"} or null while there is none}."""
    found = own_study_session(current_user(Student), session_id)
    written = found.evaluation
    return {
        "status": found.status.value,
        "evaluation": None
        if written is None
        else {"score": written.score, "feedback": written.feedback},
    }


def _after_id() -> int:
    """The `after` argument: a message id (0, or absent, for the first messages)."""
    raw = request.args.get("after", "0")
    if not MESSAGE_ID.fullmatch(raw) or int(raw) > MAX_ID:
        abort(
            400,
            description="after must be the id of the last message shown (a whole number "
            f"from 0 to {MAX_ID}).",
        )
    return int(raw)


__all__ = ["bp", "evaluation", "messages"]
