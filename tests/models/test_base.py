"""The get_by-style helpers of `studyhall.models.base`, on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy import func

from studyhall.database import DatabaseManager
from studyhall.models import Course, InvalidFilterError, Parent, Student, User
from tests.models.factories import PASSWORD_HASH, make_student, make_world


def test_get_by_equality_null_and_in(db_session):
    with DatabaseManager.get_session():
        world = make_world(students=3)
        ids = [s.id for s in world.students]
        Parent.create(
            email="p@example.org", password_hash=PASSWORD_HASH, first_name="P", last_name="Q"
        )

    with DatabaseManager.get_session():
        assert [s.id for s in Student.get_by()] == ids
        assert Student.get_by(id=ids[1], first=True).id == ids[1]
        assert [s.id for s in Student.get_by(id=[ids[0], ids[2]])] == [ids[0], ids[2]]
        assert [s.id for s in Student.get_by(school_class_id=None)] == ids
        # None in a list matches NULL too (a plain IN (NULL) never would).
        assert [s.id for s in Student.get_by(school_class_id=[None, -1])] == ids
        assert [s.id for s in Student.get_by(id=[ids[0], None])] == [ids[0]]
        assert Student.get_by(id=[]) == []
        assert Student.get_by(id=-1, first=True) is None
        assert Student.count() == 3
        assert User.count() == 4
        assert Student.count(id=ids[:2]) == 2
        assert Student.exists(email="student1@example.org")
        assert not Student.exists(email="nobody@example.org")
        assert Course.get(world.course.id).name == "Algebra 1"


def test_subclass_helpers_see_only_their_role(db_session):
    with DatabaseManager.get_session():
        parent = Parent.create(
            email="p@example.org", password_hash=PASSWORD_HASH, first_name="P", last_name="Q"
        )
        parent_id = parent.id
    with DatabaseManager.get_session():
        assert Student.get(parent_id) is None
        assert Student.count(id=parent_id) == 0
        assert not Student.exists(id=parent_id)
        assert Student.get_by(id=parent_id) == []
        assert isinstance(User.get(parent_id), Parent)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"nickname": "x"}, "cannot be filtered on 'nickname'"),
        ({"password_hash": "x"}, "password_hash is secret"),
        ({"parents": []}, "cannot be filtered on 'parents'"),
        ({"__class__": Student}, "cannot be filtered on '__class__'"),
        ({"check_password": "x"}, "cannot be filtered on 'check_password'"),
        ({"full_name": "x"}, "cannot be filtered on 'full_name'"),
        ({"email": User.password_hash}, "was given an SQL expression"),
        ({"email": [User.password_hash]}, "was given an SQL expression"),
        ({"id": func.length(User.password_hash)}, "was given an SQL expression"),
    ],
)
@pytest.mark.parametrize("helper", ["get_by", "count", "exists"])
def test_filters_refuse_non_public_columns_before_sql(filters, message, helper):
    # No database at all: the refusal must come before any session or SQL is needed.
    with pytest.raises(InvalidFilterError) as info:
        getattr(Student, helper)(**filters)
    text = str(info.value)
    assert message in text
    if "expression" not in message:
        assert "Use only these fields: " in text
        assert "email" in text and "school_class_id" in text
        assert "password_hash," not in text.split("Use only these fields: ")[1]


def test_password_is_hashed_and_email_normalized(db_session):
    with DatabaseManager.get_session():
        student = make_student(7)
        student.set_password("secret-7")
        assert student.email == "student7@example.org"
        assert "secret-7" not in student.password_hash
        assert student.check_password("secret-7")
        assert not student.check_password("secret-8")
        assert repr(student) == (
            f"<Student id={student.id} role=<UserRole.STUDENT: 'student'> "
            "email='student7@example.org'>"
        )
        assert User.get_by_email("  STUDENT7@example.ORG") is student
        with pytest.raises(AttributeError, match="only its hash"):
            _ = student.password


def test_create_with_a_many_to_many_collection_inserts_each_link_once(db_session):
    with DatabaseManager.get_session() as session:
        child = make_student(1)
        parent = Parent.create(
            email="p@example.org",
            password_hash=PASSWORD_HASH,
            first_name="P",
            last_name="Q",
            children=[child],
        )
        session.flush()  # a later full flush must not insert the link a second time
        assert [c.id for c in parent.get_children()] == [child.id]
