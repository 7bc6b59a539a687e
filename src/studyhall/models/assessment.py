"""Assessments (tests) of a learning unit: questions with choices, one of them correct.

Named Assessment, not Test, so that pytest never tries to collect the class. A question
has at most one correct choice, decided by the database (`one_true_per_parent`): a
second one is an IntegrityError on every backend.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from studyhall.models.base import Base, parts
from studyhall.models.constraints import one_true_per_parent, position_constraints
from studyhall.models.types import utcnow

if TYPE_CHECKING:
    from studyhall.models.course import LearningUnit

# Questions and choices are parts of their assessment: they go with it (CASCADE).


class Assessment(Base):
    """A test of a learning unit. Goes with its unit (CASCADE)."""

    __tablename__ = "assessments"
    __repr_fields__ = ("title",)

    id: Mapped[int] = mapped_column(primary_key=True)
    learning_unit_id: Mapped[int] = mapped_column(
        ForeignKey("learning_units.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    learning_unit: Mapped[LearningUnit] = relationship(back_populates="assessments")
    questions: Mapped[list[AssessmentQuestion]] = parts(
        "assessment", "AssessmentQuestion.position"
    )


class AssessmentQuestion(Base):
    """A question of an assessment, at a position unique within it."""

    __tablename__ = "assessment_questions"
    __repr_fields__ = ("position",)
    __table_args__ = position_constraints("assessment_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"))
    position: Mapped[int]
    prompt: Mapped[str] = mapped_column(Text)

    assessment: Mapped[Assessment] = relationship(back_populates="questions")
    choices: Mapped[list[AssessmentChoice]] = parts("question", "AssessmentChoice.position")

    @property
    def correct_choice(self) -> AssessmentChoice | None:
        """The choice marked correct, or None when none is."""
        return next((choice for choice in self.choices if choice.is_correct), None)


class AssessmentChoice(Base):
    """A possible answer to a question; `is_correct` marks the right one (at most one)."""

    __tablename__ = "assessment_choices"
    __repr_fields__ = ("position", "is_correct")
    __table_args__ = (
        *position_constraints("question_id"),
        # The target of an answer's (question_id, choice_id) foreign key: an answer's
        # choice is one of its question's (revision 0006).
        Index("uq_assessment_choices_question_id_id", "question_id", "id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("assessment_questions.id", ondelete="CASCADE")
    )
    position: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    is_correct: Mapped[bool] = mapped_column(default=False)

    question: Mapped[AssessmentQuestion] = relationship(back_populates="choices")


one_true_per_parent(
    cast(Table, AssessmentChoice.__table__),
    parent="question_id",
    flag="is_correct",
    name="uq_assessment_choices_one_correct",
    key="correct_key",
)


__all__ = [
    "Assessment",
    "AssessmentChoice",
    "AssessmentQuestion",
]
