"""Subjects, courses and the ordered learning units of a course."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from studyhall.db.backends.fulltext import FullTextIndex, attach
from studyhall.db.transaction import get_current_session
from studyhall.models.base import Base, TimestampMixin, parts
from studyhall.models.constraints import position_constraints
from studyhall.models.school import GRADE_CHECK

if TYPE_CHECKING:
    from studyhall.models.assessment import Assessment
    from studyhall.models.enrollment import Enrollment
    from studyhall.models.qa_resource import QAResource
    from studyhall.models.school import School


class Subject(Base):
    """A subject taught in courses, e.g. Mathematics."""

    __tablename__ = "subjects"
    __repr_fields__ = ("name",)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)

    courses: Mapped[list[Course]] = relationship(back_populates="subject")


class Course(TimestampMixin, Base):
    """A course of a subject, taught at a school for one grade level; unique name per school.

    ON DELETE: a school or subject with courses cannot be deleted (RESTRICT); a course's
    units go with it (CASCADE), but a course with enrollments cannot be deleted (RESTRICT
    on enrollments.course_id): enrollments are the students' record.
    """

    __tablename__ = "courses"
    __repr_fields__ = ("name", "grade_level")
    __table_args__ = (
        UniqueConstraint("school_id", "name"),
        CheckConstraint(GRADE_CHECK, name="grade_level_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed as the leading column of the unique constraint.
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="RESTRICT"))
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subjects.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    grade_level: Mapped[int] = mapped_column(index=True)
    description: Mapped[str | None] = mapped_column(Text)

    school: Mapped[School] = relationship()
    subject: Mapped[Subject] = relationship(back_populates="courses")
    units: Mapped[list[LearningUnit]] = parts("course", "LearningUnit.position")
    enrollments: Mapped[list[Enrollment]] = relationship(
        back_populates="course", passive_deletes="all"
    )

    def get_units(self) -> list[LearningUnit]:
        """This course's learning units in order of position. Requires an active session."""
        query = (
            select(LearningUnit)
            .where(LearningUnit.course_id == self.id)
            .order_by(LearningUnit.position)
        )
        return list(get_current_session().scalars(query))


class LearningUnit(Base):
    """One unit of a course, at a position (1, 2, ...) unique within the course."""

    __tablename__ = "learning_units"
    __repr_fields__ = ("course_id", "position", "title")
    __table_args__ = position_constraints("course_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str | None] = mapped_column(Text)

    course: Mapped[Course] = relationship(back_populates="units")
    assessments: Mapped[list[Assessment]] = parts("learning_unit", "Assessment.id")
    qa_resources: Mapped[list[QAResource]] = parts("learning_unit", "QAResource.id")


# The Teacher finds the units whose notes match a student's question (revision 0007).
UNIT_SEARCH = FullTextIndex("learning_units", ("title", "content"))
attach(LearningUnit.__table__, UNIT_SEARCH)


__all__ = [
    "UNIT_SEARCH",
    "Course",
    "LearningUnit",
    "Subject",
]
