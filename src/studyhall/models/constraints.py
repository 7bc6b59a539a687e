"""Table constraints that several models share."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import CheckConstraint, UniqueConstraint


def enum_check(column: str, enum_class: type[StrEnum], name: str) -> CheckConstraint:
    """A CHECK constraint keeping `column` within the values of `enum_class`."""
    values = ", ".join(f"'{member.value}'" for member in enum_class)
    return CheckConstraint(f"{column} IN ({values})", name=name)


def position_constraints(parent: str) -> tuple[UniqueConstraint, CheckConstraint]:
    """For rows ordered within a parent: positions 1, 2, ... unique per `parent` column.

    The unique constraint also indexes `parent` (its leading column), the foreign key.
    """
    return (
        UniqueConstraint(parent, "position"),
        CheckConstraint("position >= 1", name="position_positive"),
    )


__all__ = [
    "enum_check",
    "position_constraints",
]
