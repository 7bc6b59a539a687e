"""Enrollment of a student in a course."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from studyhall.models.base import Base
from studyhall.models.constraints import enum_check
from studyhall.models.types import StrEnumType, utcnow

if TYPE_CHECKING:
    from studyhall.models.course import Course
    from studyhall.models.user import Student


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    DROPPED = "dropped"


class Enrollment(Base):
    """A student enrolled in a course; one row per (student, course) pair.

    ON DELETE RESTRICT on both sides: an enrollment is the student's record, so neither
    the student nor the course can be deleted while it exists (deactivate the user, or
    delete the enrollments first on purpose).
    """

    __tablename__ = "enrollments"
    __repr_fields__ = ("student_id", "course_id", "status")
    __table_args__ = (
        UniqueConstraint("student_id", "course_id"),
        enum_check("status", EnrollmentStatus, "status_valid"),
        # A school's counts by status read the index alone (revision 0002).
        Index("ix_enrollments_course_id_status", "course_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed as the leading column of the unique constraint.
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[EnrollmentStatus] = mapped_column(
        StrEnumType(EnrollmentStatus), default=EnrollmentStatus.ACTIVE
    )
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)

    student: Mapped[Student] = relationship(back_populates="enrollments")
    course: Mapped[Course] = relationship(back_populates="enrollments")


__all__ = [
    "Enrollment",
    "EnrollmentStatus",
]
