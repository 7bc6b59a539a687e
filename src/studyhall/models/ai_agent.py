"""AI agents: the Teacher that tutors a study session and the Evaluator that scores it."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.models.base import Base, TimestampMixin
from studyhall.models.constraints import enum_check
from studyhall.models.types import StrEnumType


class AgentType(StrEnum):
    TEACHER = "teacher"
    EVALUATOR = "evaluator"


class AIAgent(TimestampMixin, Base):
    """An AI agent configuration: its type, model name and system prompt."""

    __tablename__ = "ai_agents"
    __repr_fields__ = ("agent_type", "name")
    __table_args__ = (
        enum_check("agent_type", AgentType, "agent_type_valid"),
        # The lifecycle looks up the active agent of a type.
        Index(None, "agent_type", "is_active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_type: Mapped[AgentType] = mapped_column(StrEnumType(AgentType))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    model_name: Mapped[str] = mapped_column(String(100))
    system_prompt: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)


__all__ = [
    "AIAgent",
    "AgentType",
]
