"""Schools and their classes of students."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from studyhall.models.base import Base, TimestampMixin

if TYPE_CHECKING:
    from studyhall.models.user import Manager, Student

# Grade 0 is kindergarten; 13 covers the final year of the longest school systems.
MIN_GRADE, MAX_GRADE = 0, 13
GRADE_CHECK = f"grade_level BETWEEN {MIN_GRADE} AND {MAX_GRADE}"


class School(TimestampMixin, Base):
    """A school: it has classes, courses and managers."""

    __tablename__ = "schools"
    __repr_fields__ = ("name",)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)

    classes: Mapped[list[SchoolClass]] = relationship(
        back_populates="school", order_by="SchoolClass.name", passive_deletes=True
    )
    managers: Mapped[list[Manager]] = relationship(back_populates="managed_school")


class SchoolClass(Base):
    """A class of students in a school, at one grade level; its name is unique per school.

    ON DELETE: a class goes with its school (CASCADE); its students stay, without a class.
    """

    __tablename__ = "school_classes"
    __repr_fields__ = ("name", "grade_level")
    __table_args__ = (
        UniqueConstraint("school_id", "name"),
        CheckConstraint(GRADE_CHECK, name="grade_level_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed as the leading column of the unique constraint.
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    grade_level: Mapped[int]

    school: Mapped[School] = relationship(back_populates="classes")
    students: Mapped[list[Student]] = relationship(
        back_populates="school_class", order_by="Student.id", passive_deletes=True
    )


__all__ = [
    "GRADE_CHECK",
    "School",
    "SchoolClass",
]
