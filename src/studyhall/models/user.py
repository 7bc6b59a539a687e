"""Users: students, parents and managers, in one `users` table with a `role` column.

Single-table inheritance, because the roles share almost every column (e-mail, password
hash, names, flags, timestamps) and differ by one optional column each; e-mail must be
unique across every role, which one table enforces with one UNIQUE constraint; and login
looks a user up by e-mail before knowing the role, which is one indexed SELECT without
joins. The role-specific columns are nullable and mapped only on their role's class.
(A CHECK tying each to its role is not possible: MariaDB refuses CHECK constraints on a
column whose foreign key has ON DELETE SET NULL.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, ForeignKey, Index, String, Table, and_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload, validates
from werkzeug.security import check_password_hash, generate_password_hash

from studyhall.db.transaction import get_current_session
from studyhall.models.base import Base, TimestampMixin
from studyhall.models.constraints import enum_check
from studyhall.models.course import Course
from studyhall.models.enrollment import Enrollment, EnrollmentStatus
from studyhall.models.study_session import SessionStatus, StudySession
from studyhall.models.types import StrEnumType

if TYPE_CHECKING:
    from studyhall.models.school import School, SchoolClass


class UserRole(StrEnum):
    STUDENT = "student"
    PARENT = "parent"
    MANAGER = "manager"


def normalize_email(email: str) -> str:
    """The stored form of an e-mail address: surrounding blanks removed, lower case."""
    return email.strip().lower()


# A link row only: it goes with either of its users (CASCADE).
parent_students = Table(
    "parent_students",
    Base.metadata,
    Column("parent_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("student_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # parent_id is indexed as the leading primary-key column.
    Index(None, "student_id"),
)


class User(TimestampMixin, Base):
    """Someone who logs in. Instantiate a role: Student, Parent or Manager.

    Only a hash of the password is stored (`set_password`, `check_password`).
    """

    __tablename__ = "users"
    __secret_fields__ = frozenset({"password_hash"})
    __repr_fields__ = ("role", "email")
    __table_args__ = (enum_check("role", UserRole, "role_valid"),)
    __mapper_args__ = {"polymorphic_on": "role"}

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[UserRole] = mapped_column(StrEnumType(UserRole))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]

    @validates("email")
    def _normalize_email(self, key: str, email: str) -> str:
        return normalize_email(email)

    @property
    def password(self) -> str:
        """Write-only: assigning it stores a hash (so `User(password=...)` works)."""
        raise AttributeError(
            "The password is not stored, only its hash. Use check_password() to verify one."
        )

    @password.setter
    def password(self, password: str) -> None:
        self.set_password(password)

    def set_password(self, password: str) -> None:
        """Store a salted scrypt hash of `password`; the password itself is never kept."""
        if not password:
            raise ValueError("The password is empty; choose a non-empty password.")
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Whether `password` matches the stored hash (constant-time comparison)."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @classmethod
    def get_by_email(cls, email: str) -> User | None:
        """The user with this e-mail (normalized first), or None. Requires an active session."""
        return cls.get_by(email=normalize_email(email), first=True)


class Student(User):
    """A student: may belong to a class; has parents, enrollments and study sessions."""

    __mapper_args__ = {"polymorphic_identity": UserRole.STUDENT}

    # SET NULL: dissolving a class leaves its students in the school, unassigned.
    school_class_id: Mapped[int | None] = mapped_column(
        ForeignKey("school_classes.id", ondelete="SET NULL"), index=True
    )

    school_class: Mapped[SchoolClass | None] = relationship(back_populates="students")
    parents: Mapped[list[Parent]] = relationship(
        secondary=parent_students,
        primaryjoin=lambda: User.id == parent_students.c.student_id,
        secondaryjoin=lambda: User.id == parent_students.c.parent_id,
        back_populates="children",
        order_by=lambda: User.id,
    )
    enrollments: Mapped[list[Enrollment]] = relationship(
        back_populates="student", order_by=lambda: Enrollment.id, passive_deletes=True
    )
    # Read-only view for pages: load it for many students at once with `list_with_courses`.
    courses: Mapped[list[Course]] = relationship(
        secondary=lambda: Enrollment.__table__,
        primaryjoin=lambda: and_(
            User.id == Enrollment.student_id, Enrollment.status == EnrollmentStatus.ACTIVE
        ),
        secondaryjoin=lambda: Enrollment.course_id == Course.id,
        order_by=lambda: (Course.name, Course.id),
        viewonly=True,
    )

    @classmethod
    def list_with_courses(cls, **filters: Any) -> list[Student]:
        """Students matching `filters` (as in `get_by`) with `courses` loaded: two SELECTs
        whatever their number. Requires an active session."""
        query = (
            select(cls)
            .where(*cls.filter_criteria(filters))
            .options(selectinload(cls.courses))
            .order_by(cls.id)
        )
        return list(get_current_session().scalars(query))

    def get_courses(self) -> list[Course]:
        """The courses this student is actively enrolled in, by name. Requires a session."""
        query = (
            select(Course)
            .join(Enrollment, Enrollment.course_id == Course.id)
            .where(
                Enrollment.student_id == self.id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
            )
            .order_by(Course.name, Course.id)
        )
        return list(get_current_session().scalars(query))

    def get_study_sessions(
        self, status: SessionStatus | Sequence[SessionStatus] | None = None
    ) -> list[StudySession]:
        """This student's study sessions, newest first, optionally of some statuses.

        Requires an active session.
        """
        filters: dict[str, Any] = {"student_id": self.id}
        if status is not None:
            filters["status"] = [status] if isinstance(status, str) else list(status)
        query = (
            select(StudySession)
            .where(*StudySession.filter_criteria(filters))
            .order_by(StudySession.created_at.desc(), StudySession.id.desc())
        )
        return list(get_current_session().scalars(query))


# Declared here: the column belongs to Student, a subclass sharing the users table.
# A class's counts by role read the index alone (revision 0002).
Index("ix_users_school_class_id_role", Student.school_class_id, User.role)
# A school's roster, by class then name, read in index order (revision 0003).
Index(
    "ix_users_school_class_id_last_name",
    Student.school_class_id,
    User.last_name,
    User.first_name,
    User.id,
)


class Parent(User):
    """A parent of one or more students."""

    __mapper_args__ = {"polymorphic_identity": UserRole.PARENT}

    children: Mapped[list[Student]] = relationship(
        secondary=parent_students,
        primaryjoin=lambda: User.id == parent_students.c.parent_id,
        secondaryjoin=lambda: User.id == parent_students.c.student_id,
        back_populates="parents",
        order_by=lambda: User.id,
    )

    def get_children(self) -> list[Student]:
        """This parent's students, ordered by id. Requires an active session."""
        query = (
            select(Student)
            .join(parent_students, parent_students.c.student_id == Student.id)
            .where(parent_students.c.parent_id == self.id)
            .order_by(Student.id)
        )
        return list(get_current_session().scalars(query))


class Manager(User):
    """A manager of a school."""

    __mapper_args__ = {"polymorphic_identity": UserRole.MANAGER}

    # SET NULL: a manager account outlives the school it managed.
    managed_school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="SET NULL"), index=True
    )

    managed_school: Mapped[School | None] = relationship(back_populates="managers")


__all__ = [
    "Manager",
    "Parent",
    "Student",
    "User",
    "UserRole",
    "normalize_email",
    "parent_students",
]
