"""Filter values are checked against their column's type before any SQL is built.

MySQL compares a string column with a number by casting every string to a number
(`email = 0` matches every non-numeric email) and an integer key with a string by
reading its leading digits (`id = '1 OR 1=1'` matches id 1); a value object with
`__clause_element__` becomes SQL. None of them may reach the database.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    Time,
    func,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ClauseElement

from studyhall.database import DatabaseManager
from studyhall.models import (
    AgentType,
    AIAgent,
    Course,
    InvalidFilterError,
    Student,
    User,
    UserRole,
)
from studyhall.models.filters import check_value
from studyhall.models.types import StrEnumType
from tests.models.factories import make_world


class Wrapped:
    """A value object that SQLAlchemy would turn into SQL: the password hash column."""

    def __clause_element__(self) -> ClauseElement:
        return User.password_hash.__clause_element__()


class SneakyStr(str):
    """A string that also carries a `__clause_element__`: data on the outside, SQL inside."""

    def __clause_element__(self) -> ClauseElement:
        return User.password_hash.__clause_element__()


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"email": 0}, "Student.email takes a str; it was given an int"),
        ({"email": 0.0}, "Student.email takes a str; it was given a float"),
        ({"email": True}, "Student.email takes a str; it was given a bool"),
        ({"email": b"x@example.org"}, "Student.email takes a str; it was given a bytes"),
        ({"email": ["a@example.org", 0]}, "Student.email takes a str; it was given an int"),
        ({"id": "1 OR 1=1"}, "Student.id takes an int; it was given a str"),
        ({"id": "1"}, "Student.id takes an int; it was given a str"),
        ({"id": 1.0}, "Student.id takes an int; it was given a float"),
        ({"id": True}, "Student.id takes an int; it was given a bool"),
        ({"id": (1, "2")}, "Student.id takes an int; it was given a str"),
        ({"id": {1, decimal.Decimal(2)}}, "Student.id takes an int; it was given a Decimal"),
        ({"school_class_id": [None, "x"]}, "Student.school_class_id takes an int"),
        ({"is_active": 1}, "Student.is_active takes a bool; it was given an int"),
        ({"is_active": "true"}, "Student.is_active takes a bool; it was given a str"),
        ({"created_at": "2024-01-01"}, "Student.created_at takes a datetime; it was given a str"),
        ({"created_at": dt.date(2024, 1, 1)}, "takes a datetime; it was given a date"),
        ({"role": "teacher"}, "Student.role takes a UserRole"),
        ({"role": 1}, "Student.role takes a UserRole"),
        ({"role": AgentType.TEACHER}, "Student.role takes a UserRole"),
        ({"email": Wrapped()}, "Student.email was given an SQL expression (Wrapped)"),
        ({"email": SneakyStr("x")}, "was given an SQL expression (SneakyStr)"),
        ({"id": [1, Wrapped()]}, "Student.id was given an SQL expression (Wrapped)"),
        ({"email": User.password_hash}, "was given an SQL expression"),
        ({"id": func.length(User.password_hash)}, "was given an SQL expression"),
        ({"email": {"$ne": ""}}, "Student.email takes a str; it was given a dict"),
        ({"id": range(3)}, "Student.id takes an int; it was given a range"),
        ({"email": object()}, "Student.email takes a str; it was given an object"),
    ],
)
@pytest.mark.parametrize("helper", ["get_by", "count", "exists"])
def test_values_of_the_wrong_type_are_refused_before_sql(
    filters: dict[str, Any], message: str, helper: str
) -> None:
    # No database at all: the refusal comes before any session or SQL is needed.
    with pytest.raises(InvalidFilterError) as info:
        getattr(Student, helper)(**filters)
    assert message in str(info.value)
    assert "Pass " in str(info.value) or "Build a select()" in str(info.value)


@pytest.mark.parametrize("ident", ["1 OR 1=1", "1", 1.5, True, Wrapped()])
def test_get_checks_the_primary_key_type(ident: Any) -> None:
    with pytest.raises(InvalidFilterError, match=r"Student\.id"):
        Student.get(ident)


def test_the_message_never_shows_the_value() -> None:
    # A value given to the wrong field may be a secret (a password typed into `email`).
    with pytest.raises(InvalidFilterError) as info:
        Student.get_by(id="hunter2-secret")
    assert "hunter2-secret" not in str(info.value)


def test_mistyped_values_never_match_rows(db_session: Session) -> None:
    with DatabaseManager.get_session():
        world = make_world(students=3)
        student_id = world.students[0].id
    with DatabaseManager.get_session():
        for filters in ({"email": 0}, {"id": f"{student_id} OR 1=1"}, {"email": Wrapped()}):
            with pytest.raises(InvalidFilterError):
                Student.get_by(**filters)
            with pytest.raises(InvalidFilterError):
                Student.count(**filters)
            with pytest.raises(InvalidFilterError):
                Student.exists(**filters)
        with pytest.raises(InvalidFilterError):
            Student.get(f"{student_id}")


def test_well_typed_values_still_match(db_session: Session) -> None:
    with DatabaseManager.get_session():
        world = make_world(students=2)
        ids = [s.id for s in world.students]
    with DatabaseManager.get_session():
        created_at = Student.get(ids[0]).created_at  # as stored (MariaDB drops microseconds)
        assert Student.count(email="student0@example.org") == 1
        assert Student.count(email=["student0@example.org", None]) == 1
        assert [s.id for s in Student.get_by(id=(ids[1],))] == [ids[1]]
        assert Student.count(id={ids[0], ids[1]}) == 2
        assert Student.count(is_active=True) == 2
        assert Student.count(is_active=[False]) == 0
        assert Student.count(role=UserRole.STUDENT) == 2
        assert Student.count(role="student") == 2  # the enum's value, as the model stores it
        assert Student.count(created_at=created_at) >= 1
        assert Student.get(ids[0]).id == ids[0]
        assert AIAgent.count(agent_type=AgentType.TEACHER, is_active=True) == 1
        assert Course.count(grade_level=7, name="Algebra 1") == 1


@pytest.mark.parametrize(
    ("column_type", "good", "bad", "expected"),
    [
        (String(10), ["a", "", UserRole.STUDENT], [1, 1.0, b"a", True], "a str"),
        (Text(), ["long text"], [0], "a str"),
        (Integer(), [0, -5, 2**40], ["1", 1.0, True, decimal.Decimal(1)], "an int"),
        (BigInteger(), [2**62], ["1", False], "an int"),
        (Boolean(), [True, False], [0, 1, "true", 1.5], "a bool"),
        (
            Numeric(10, 2),
            [1, 1.5, decimal.Decimal("1.25")],
            ["1.5", True],
            "an int, float or Decimal",
        ),
        (Float(), [1, 1.5, decimal.Decimal(1)], ["1.5", False], "an int, float or Decimal"),
        (
            DateTime(),
            [dt.datetime(2024, 1, 1)],
            [dt.date(2024, 1, 1), "2024-01-01", 0],
            "a datetime",
        ),
        (Date(), [dt.date(2024, 1, 1)], [dt.datetime(2024, 1, 1), "2024-01-01"], "a date"),
        (Time(), [dt.time(12, 0)], ["12:00", dt.datetime(2024, 1, 1)], "a time"),
        (LargeBinary(), [b"x", bytearray(b"x")], ["x", 1], "bytes"),
        (Enum(Colour), [Colour.RED, "RED"], ["red", "green", 1, UserRole.STUDENT], "a Colour"),
        (Enum("a", "b", name="ab"), ["a", "b"], ["c", 1], "one of 'a', 'b'"),
        (StrEnumType(UserRole), [UserRole.PARENT, "parent"], ["PARENT", "x", 0], "a UserRole"),
        (JSON(), [], [{"a": 1}, "x", 1], "cannot be filtered on"),
    ],
)
def test_each_column_type_takes_its_own_values(
    column_type: Any, good: list[Any], bad: list[Any], expected: str
) -> None:
    for value in good:
        check_value("Thing", "field", column_type, value)  # no error
    for value in bad:
        with pytest.raises(InvalidFilterError) as info:
            check_value("Thing", "field", column_type, value)
        assert "Thing.field" in str(info.value) and expected in str(info.value), value
        assert type(value).__name__ in str(info.value) or "cannot be filtered on" in str(
            info.value
        )
