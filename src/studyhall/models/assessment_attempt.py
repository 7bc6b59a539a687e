"""A student's attempt at a unit's test in a study session, and its answers.

What the database keeps, whoever writes: one attempt per test and study session; one
answer per question of an attempt; an answer's choice is one of its question's (the
foreign key (question_id, choice_id) refers to the choice's (question_id, id)); the
counts that make the score exist exactly when the attempt is submitted, with no more
correct answers than questions. That a question belongs to the attempt's test, and
that a submitted attempt takes no more answers, is `services.assessment_attempts`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from studyhall.models.base import Base, parts
from studyhall.models.types import utcnow

if TYPE_CHECKING:
    from studyhall.models.assessment import Assessment, AssessmentChoice, AssessmentQuestion
    from studyhall.models.study_session import StudySession
    from studyhall.models.user import Student


class AssessmentAttempt(Base):
    """A student taking a test in a study session: open until `submitted_at`.

    On submission `correct_count` of `question_count` questions were answered right
    (an unanswered question counts as wrong); `score` is their share, from 0 to 1.

    ON DELETE: goes with its study session (CASCADE), as do its answers; a test with
    attempts cannot be deleted (RESTRICT): attempts are the students' record.
    """

    __tablename__ = "assessment_attempts"
    __repr_fields__ = ("study_session_id", "assessment_id", "submitted_at")
    __table_args__ = (
        # One attempt at a test per session; also the index of the session's foreign key.
        Index(
            "uq_assessment_attempts_study_session_id_assessment_id",
            "study_session_id",
            "assessment_id",
            unique=True,
        ),
        CheckConstraint(
            "(submitted_at IS NULL AND correct_count IS NULL AND question_count IS NULL)"
            " OR (submitted_at IS NOT NULL AND correct_count IS NOT NULL"
            " AND question_count IS NOT NULL)",
            name="counts_when_submitted",
        ),
        CheckConstraint(
            "correct_count >= 0 AND correct_count <= question_count", name="counts_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    study_session_id: Mapped[int] = mapped_column(
        ForeignKey("study_sessions.id", ondelete="CASCADE")
    )
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("assessments.id", ondelete="RESTRICT"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the last answer was recorded; every answer and the submission write the row
    # first, so they queue up on its lock (see services.assessment_attempts).
    answered_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    correct_count: Mapped[int | None]
    question_count: Mapped[int | None]

    student: Mapped[Student] = relationship()
    study_session: Mapped[StudySession] = relationship()
    assessment: Mapped[Assessment] = relationship()
    answers: Mapped[list[AttemptAnswer]] = parts("attempt", "AttemptAnswer.id")

    @property
    def score(self) -> float | None:
        """The share of the test's questions answered right (0 to 1); None while open."""
        if self.correct_count is None or not self.question_count:
            return None if self.submitted_at is None else 0.0
        return self.correct_count / self.question_count


class AttemptAnswer(Base):
    """The choice a student picked for one question of an attempt.

    ON DELETE: goes with its attempt (CASCADE); a question or choice that was answered
    cannot be deleted (RESTRICT).
    """

    __tablename__ = "attempt_answers"
    __repr_fields__ = ("attempt_id", "question_id", "choice_id")
    __table_args__ = (
        # One answer per question of an attempt; also the index of the attempt's key.
        Index(
            "uq_attempt_answers_attempt_id_question_id", "attempt_id", "question_id", unique=True
        ),
        # The choice is one of the question's own.
        ForeignKeyConstraint(
            ["question_id", "choice_id"],
            ["assessment_choices.question_id", "assessment_choices.id"],
            ondelete="RESTRICT",
        ),
        # The index of both foreign keys that start with question_id.
        Index("ix_attempt_answers_question_id_choice_id", "question_id", "choice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("assessment_attempts.id", ondelete="CASCADE")
    )
    question_id: Mapped[int] = mapped_column(
        ForeignKey("assessment_questions.id", ondelete="RESTRICT")
    )
    choice_id: Mapped[int]
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)

    attempt: Mapped[AssessmentAttempt] = relationship(back_populates="answers")
    # Read-only: the ids are written as they are, never through these.
    question: Mapped[AssessmentQuestion] = relationship(viewonly=True)
    choice: Mapped[AssessmentChoice] = relationship(viewonly=True)


__all__ = [
    "AssessmentAttempt",
    "AttemptAnswer",
]
