"""What a study session's open page polls for: messages newer than the last it shows.

`messages_after` reads one session's messages with ids above a known one, oldest first,
off the (study_session_id, id) index: a poll costs one short range read however long
the conversation is. Requires an active session.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from studyhall.db.transaction import get_current_session
from studyhall.models import MessageRole, StudyMessage


@dataclass(frozen=True)
class MessageRow:
    """One message as the page shows it."""

    id: int
    role: MessageRole
    content: str


def messages_after(study_session_id: int, after_id: int, limit: int) -> list[MessageRow]:
    """The session's first `limit` messages with an id above `after_id`, oldest first."""
    if limit < 1:
        return []
    query = (
        select(StudyMessage.id, StudyMessage.role, StudyMessage.content)
        .where(StudyMessage.study_session_id == study_session_id, StudyMessage.id > after_id)
        .order_by(StudyMessage.id)
        .limit(limit)
    )
    return [MessageRow(*row) for row in get_current_session().execute(query)]


__all__ = ["MessageRow", "messages_after"]
