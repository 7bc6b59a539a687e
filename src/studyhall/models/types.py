"""Portable column types: naive-UTC timestamps and string enums."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import Dialect, String
from sqlalchemy.types import TypeDecorator

E = TypeVar("E", bound=StrEnum)

# One length for every enum column: a new member never needs a column migration.
ENUM_LENGTH = 20


def utcnow() -> datetime:
    """The current time in UTC, without tzinfo.

    Stored naive because MySQL/MariaDB DATETIME and SQLite keep no time zone; every
    timestamp in studyhall is UTC by convention.
    """
    return datetime.now(UTC).replace(tzinfo=None)


class StrEnumType(TypeDecorator[E], Generic[E]):
    """A VARCHAR holding the value of a `StrEnum`; loads back as the enum member.

    Values are bound as plain strings: drivers differ in how they adapt Enum objects
    (psycopg dumps an Enum by its name), so the type never hands them one.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum_class: type[E]) -> None:
        super().__init__(length=ENUM_LENGTH)
        self.enum_class = enum_class

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.enum_class(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum_class(value)


__all__ = [
    "E",
    "ENUM_LENGTH",
    "StrEnumType",
    "utcnow",
]
