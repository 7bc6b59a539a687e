"""The study-session lifecycle: create, start, exchange messages, end or cancel, evaluate."""

from studyhall.services.study_session.lifecycle import (
    add_message,
    cancel,
    create_home_study_session,
    end,
    evaluate_study_session,
    start,
)

__all__ = [
    "add_message",
    "cancel",
    "create_home_study_session",
    "end",
    "evaluate_study_session",
    "start",
]
