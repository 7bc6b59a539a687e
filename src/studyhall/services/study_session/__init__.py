"""The study-session lifecycle: create, start, exchange messages, end, cancel or close
when idle, evaluate."""

from studyhall.services.study_session.lifecycle import (
    add_message,
    cancel,
    close_idle,
    create_home_study_session,
    end,
    evaluate_study_session,
    start,
)

__all__ = [
    "add_message",
    "cancel",
    "close_idle",
    "create_home_study_session",
    "end",
    "evaluate_study_session",
    "start",
]
