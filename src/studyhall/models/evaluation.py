"""The Evaluator agent's assessment of a completed study session."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from studyhall.models.base import Base
from studyhall.models.types import utcnow

if TYPE_CHECKING:
    from studyhall.models.ai_agent import AIAgent
    from studyhall.models.study_session import StudySession

MIN_SCORE, MAX_SCORE = 0, 100


class Evaluation(Base):
    """A score (0 to 100) and feedback for a study session; at most one per session.

    ON DELETE: goes with its session (CASCADE); an Evaluator agent with evaluations
    cannot be deleted (RESTRICT): deactivate it instead.
    """

    __tablename__ = "evaluations"
    __repr_fields__ = ("study_session_id", "score")
    __table_args__ = (
        CheckConstraint(f"score BETWEEN {MIN_SCORE} AND {MAX_SCORE}", name="score_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_session_id: Mapped[int] = mapped_column(
        ForeignKey("study_sessions.id", ondelete="CASCADE"), unique=True
    )
    evaluator_agent_id: Mapped[int] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="RESTRICT"), index=True
    )
    score: Mapped[int]
    feedback: Mapped[str] = mapped_column(Text)
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)

    study_session: Mapped[StudySession] = relationship(back_populates="evaluation")
    evaluator_agent: Mapped[AIAgent] = relationship()


__all__ = [
    "Evaluation",
]
