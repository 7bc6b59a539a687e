"""Question/answer pairs of a learning unit, which the Teacher agent draws on."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from studyhall.db.backends.fulltext import FullTextIndex, attach
from studyhall.models.base import Base
from studyhall.models.constraints import enum_check
from studyhall.models.types import StrEnumType, utcnow

if TYPE_CHECKING:
    from studyhall.models.course import LearningUnit


class Difficulty(StrEnum):
    EASY = "easy"
    MEDIUM = "medium"
    HARD = "hard"


class QAResource(Base):
    """A question with its answer, attached to a learning unit (goes with it: CASCADE)."""

    __tablename__ = "qa_resources"
    __repr_fields__ = ("learning_unit_id", "difficulty")
    __table_args__ = (
        enum_check("difficulty", Difficulty, "difficulty_valid"),
        # The Teacher agent asks for a unit's resources of one difficulty.
        Index(None, "learning_unit_id", "difficulty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learning_unit_id: Mapped[int] = mapped_column(
        ForeignKey("learning_units.id", ondelete="CASCADE")
    )
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    difficulty: Mapped[Difficulty] = mapped_column(
        StrEnumType(Difficulty), default=Difficulty.MEDIUM
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    learning_unit: Mapped[LearningUnit] = relationship(back_populates="qa_resources")


# The Teacher finds the answers that match a student's question (revision 0007).
QA_SEARCH = FullTextIndex("qa_resources", ("question", "answer"))
attach(QAResource.__table__, QA_SEARCH)


__all__ = [
    "QA_SEARCH",
    "Difficulty",
    "QAResource",
]
