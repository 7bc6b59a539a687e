"""Filter values checked against their column's type before any SQL is built.

MySQL compares across types by casting: `email = 0` casts every email to a number (0
for any non-numeric text) and matches them all; `id = '1 OR 1=1'` reads the string's
leading digits and matches id 1. A value object with `__clause_element__` is turned
into SQL by SQLAlchemy. So a filter value must be plain data of its column's type.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Any

from sqlalchemy import types as sqltypes
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ClauseElement

from studyhall.models.errors import InvalidFilterError

# (column type, accepted Python types, how a message names them); the first match wins,
# so a subclass (Enum is a String, DateTime values are dates) comes before its base.
_ACCEPTED: tuple[tuple[type[Any], tuple[type[Any], ...], str], ...] = (
    (sqltypes.Boolean, (bool,), "a bool"),
    (sqltypes.Integer, (int,), "an int"),
    (sqltypes.Numeric, (int, float, decimal.Decimal), "an int, float or Decimal"),
    # Its own entry: since SQLAlchemy 2.1 a Float is no longer a Numeric.
    (sqltypes.Float, (int, float, decimal.Decimal), "an int, float or Decimal"),
    (sqltypes.DateTime, (dt.datetime,), "a datetime"),
    (sqltypes.Date, (dt.date,), "a date"),
    (sqltypes.Time, (dt.time,), "a time"),
    (sqltypes.Interval, (dt.timedelta,), "a timedelta"),
    (sqltypes.Uuid, (uuid.UUID,), "a UUID"),
    (sqltypes.LargeBinary, (bytes, bytearray), "bytes"),
    (sqltypes.String, (str,), "a str"),
)
# An int is never taken for a bool, nor a datetime for a date (the subclass relations
# of Python's own types), except where the column wants exactly that type.
_NEVER: dict[type[Any], tuple[type[Any], ...]] = {
    int: (bool,),
    float: (bool,),
    dt.date: (dt.datetime,),
}


def is_expression(value: object) -> bool:
    """Whether SQLAlchemy would turn `value` into SQL rather than bind it as data."""
    return isinstance(value, (ClauseElement, QueryableAttribute)) or hasattr(
        value, "__clause_element__"
    )


def check_value(
    model: str, field: str, column_type: sqltypes.TypeEngine[Any], value: object
) -> None:
    """Raise InvalidFilterError unless `value` is None or plain data of `column_type`."""
    if value is None:
        return
    where = f"{model}.{field}"
    if is_expression(value):
        raise InvalidFilterError(
            f"{where} was given an SQL expression ({type(value).__name__}); filters take plain "
            "values, None or a list of values. Build a select() for anything else."
        )
    enum_class: type[enum.Enum] | None = getattr(column_type, "enum_class", None)
    if isinstance(column_type, sqltypes.Enum):
        _check_enum(where, column_type, enum_class, value)
        return
    if enum_class is not None:  # a TypeDecorator storing an enum's values (StrEnumType)
        _check_enum_values(where, enum_class, value)
        return
    if isinstance(column_type, sqltypes.TypeDecorator) and not isinstance(
        column_type, sqltypes.Interval
    ):
        column_type = column_type.impl_instance
    for sql_type, accepted, expected in _ACCEPTED:
        if isinstance(column_type, sql_type):
            if not _is_instance(value, accepted):
                raise _wrong_type(where, expected, value)
            return
    raise InvalidFilterError(
        f"{where} cannot be filtered on: its type {column_type!r} has no plain equality "
        "studyhall can check. Build a select() for it."
    )


def _is_instance(value: object, accepted: tuple[type[Any], ...]) -> bool:
    for kind in accepted:
        if isinstance(value, kind) and not any(
            isinstance(value, never) and never not in accepted for never in _NEVER.get(kind, ())
        ):
            return True
    return False


def _check_enum(
    where: str, column_type: sqltypes.Enum, enum_class: type[enum.Enum] | None, value: object
) -> None:
    # SQLAlchemy's Enum binds a member of its class, or the string it stores for one
    # (the member's name unless `values_callable` says otherwise).
    stored = list(column_type.enums)
    if enum_class is not None and isinstance(value, enum_class):
        return
    if isinstance(value, str) and not isinstance(value, enum.Enum) and value in stored:
        return
    options = ", ".join(map(repr, stored))
    expected = (
        f"a {enum_class.__name__} (or one of {options})" if enum_class else f"one of {options}"
    )
    raise _wrong_type(where, expected, value, unknown_value=isinstance(value, str))


def _check_enum_values(where: str, enum_class: type[enum.Enum], value: object) -> None:
    # A member of the column's enum, or the value it stores for one.
    if isinstance(value, enum_class):
        return
    values = [member.value for member in enum_class]
    if isinstance(value, str) and not isinstance(value, enum.Enum) and value in values:
        return
    expected = f"a {enum_class.__name__} (or one of {', '.join(map(repr, values))})"
    raise _wrong_type(where, expected, value, unknown_value=isinstance(value, str))


def _wrong_type(
    where: str, expected: str, value: object, *, unknown_value: bool = False
) -> InvalidFilterError:
    # Never the value itself: a value typed into the wrong field may be a secret.
    name = type(value).__name__
    given = f"{_article(name)} {name}"
    if unknown_value:
        given += " that is none of them"
    return InvalidFilterError(
        f"{where} takes {expected}; it was given {given}. "
        f"Pass {expected.split(' (')[0]}, None or a list of them."
    )


def _article(name: str) -> str:
    return "an" if name[:1].lower() in "aeio" else "a"


__all__ = [
    "check_value",
    "is_expression",
]
