"""Study sessions of a student with the Teacher agent, and the messages they exchange.

Invariant, decided by the database: a student has at most one active study session.
`active_student_id` equals `student_id` while the status is 'active' and is NULL
otherwise (a CHECK constraint); it is UNIQUE, and NULLs never collide in a UNIQUE
constraint on SQLite, MariaDB or PostgreSQL. So of two transactions activating sessions
of one student, the second one's write fails with an IntegrityError, whatever the
isolation level, locks or timing; `services.study_session.lifecycle` turns it into
`ActiveSessionExistsError`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from studyhall.models.base import Base, TimestampMixin, parts
from studyhall.models.constraints import enum_check
from studyhall.models.types import StrEnumType, utcnow

if TYPE_CHECKING:
    from studyhall.models.ai_agent import AIAgent
    from studyhall.models.course import LearningUnit
    from studyhall.models.evaluation import Evaluation
    from studyhall.models.user import Student


class SessionStatus(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class SessionKind(StrEnum):
    HOME_HOURS = "home_hours"


class MessageRole(StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"


class StudySession(TimestampMixin, Base):
    """A study session (polymorphic on `kind`); create a kind, e.g. HomeHoursStudySession.

    `updated_at` changes with every status change, message and evaluation.

    ON DELETE RESTRICT towards the student, the learning unit and the Teacher agent: a
    session is part of the student's record. Its messages and evaluation go with it.
    """

    __tablename__ = "study_sessions"
    __repr_fields__ = ("kind", "student_id", "status")
    __table_args__ = (
        enum_check("kind", SessionKind, "kind_valid"),
        enum_check("status", SessionStatus, "status_valid"),
        CheckConstraint(
            "(status = 'active' AND active_student_id IS NOT NULL"
            " AND active_student_id = student_id)"
            " OR (status <> 'active' AND active_student_id IS NULL)",
            name="active_student_matches_status",
        ),
        CheckConstraint(
            "duration_seconds IS NULL OR duration_seconds >= 0", name="duration_non_negative"
        ),
        # A unit's counts by status read the index alone (revision 0002).
        Index("ix_study_sessions_learning_unit_id_status", "learning_unit_id", "status"),
    )
    __mapper_args__ = {"polymorphic_on": "kind"}

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[SessionKind] = mapped_column(StrEnumType(SessionKind))
    student_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    learning_unit_id: Mapped[int] = mapped_column(
        ForeignKey("learning_units.id", ondelete="RESTRICT"), index=True
    )
    teacher_agent_id: Mapped[int] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[SessionStatus] = mapped_column(
        StrEnumType(SessionStatus), default=SessionStatus.PLANNED, index=True
    )
    # The one-active-session decider; see the module docstring.
    active_student_id: Mapped[int | None] = mapped_column(unique=True)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]

    student: Mapped[Student] = relationship()
    learning_unit: Mapped[LearningUnit] = relationship()
    teacher_agent: Mapped[AIAgent] = relationship()
    messages: Mapped[list[StudyMessage]] = parts("study_session", "StudyMessage.id")
    evaluation: Mapped[Evaluation | None] = parts("study_session")


# A student's history, newest first, in keyset pages (ORDER BY created_at DESC, id DESC),
# read forwards: on MariaDB 10.11 the optimizer's ref scan of an ascending index walks it
# backwards, ~7x slower at page 1,000. MariaDB < 10.8 ignores DESC (revision 0002).
Index(
    "ix_study_sessions_student_id_created_at",
    StudySession.student_id,
    StudySession.created_at.desc(),
    StudySession.id.desc(),
)


class HomeHoursStudySession(StudySession):
    """A session of home hours: the student studies at home with the Teacher agent."""

    __mapper_args__ = {"polymorphic_identity": SessionKind.HOME_HOURS}


class StudyMessage(Base):
    """One message of a study session, from the student or the Teacher agent."""

    __tablename__ = "study_messages"
    __repr_fields__ = ("study_session_id", "role")
    __table_args__ = (
        enum_check("role", MessageRole, "role_valid"),
        # A session's newest messages (ORDER BY id DESC) are its index's last entries, on
        # PostgreSQL too, whose index would not otherwise end with the id (revision 0003).
        Index("ix_study_messages_study_session_id_id", "study_session_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_session_id: Mapped[int] = mapped_column(
        ForeignKey("study_sessions.id", ondelete="CASCADE")
    )
    role: Mapped[MessageRole] = mapped_column(StrEnumType(MessageRole))
    content: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The student's message a Teacher's reply answers; UNIQUE, so a message gets at most
    # one reply however often its reply job runs (revision 0007).
    in_reply_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("study_messages.id", ondelete="CASCADE"), unique=True
    )

    study_session: Mapped[StudySession] = relationship(back_populates="messages")


__all__ = [
    "HomeHoursStudySession",
    "MessageRole",
    "SessionKind",
    "SessionStatus",
    "StudyMessage",
    "StudySession",
]
