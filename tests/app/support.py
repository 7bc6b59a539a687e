"""Rows and client helpers for the web-app tests: two schools, each with its own people."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

from flask.testing import FlaskClient
from sqlalchemy import insert
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

from studyhall.app.csrf import SESSION_KEY
from studyhall.database import get_current_session
from studyhall.models import (
    AgentType,
    AIAgent,
    Course,
    Enrollment,
    Evaluation,
    HomeHoursStudySession,
    LearningUnit,
    Manager,
    Parent,
    School,
    SchoolClass,
    SessionStatus,
    Student,
    Subject,
    parent_students,
)

Person = TypeVar("Person", Student, Parent, Manager)

PASSWORD = "correct horse battery"
# One pbkdf2 round: the tests check the login flow, not the strength of the hash.
FAST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1")


@dataclass(frozen=True)
class World:
    """Ids of the rows the tests act on. Student A (with parent P) and B are in school 1."""

    algebra: int  # school 1: A and B enrolled
    biology: int  # school 1: A enrolled
    chemistry: int  # school 2: C enrolled
    algebra_units: tuple[int, ...]
    chemistry_unit: int
    a_session: int  # completed, evaluated
    b_session: int  # completed
    c_session: int  # completed


def user_email(name: str) -> str:
    return f"{name}@example.edu"


def _person(model: type[Person], name: str, **fields: object) -> Person:
    return model.create(
        email=user_email(name),
        password_hash=FAST_HASH,
        first_name=name.capitalize(),
        last_name="Tester",
        **fields,
    )


def make_world() -> World:
    """Two schools with classes, courses, units, students, a parent, managers, sessions."""
    one, two = School.create(name="Hillside School"), School.create(name="Riverside School")
    maths, science = Subject.create(name="Mathematics"), Subject.create(name="Science")
    class_one = SchoolClass.create(school=one, name="7A", grade_level=7)
    class_two = SchoolClass.create(school=two, name="8B", grade_level=8)
    algebra = Course.create(school=one, subject=maths, name="Algebra 1", grade_level=7)
    biology = Course.create(school=one, subject=science, name="Biology", grade_level=7)
    chemistry = Course.create(school=two, subject=science, name="Chemistry", grade_level=8)
    units = [
        LearningUnit.create(course=algebra, position=n, title=f"Equations part {n}")
        for n in (1, 2, 3)
    ]
    LearningUnit.create(course=biology, position=1, title="Cells")
    chem_unit = LearningUnit.create(course=chemistry, position=1, title="Atoms")
    teacher = AIAgent.create(
        agent_type=AgentType.TEACHER, name="Ada", model_name="m-1", system_prompt="Teach."
    )
    evaluator = AIAgent.create(
        agent_type=AgentType.EVALUATOR, name="Eve", model_name="m-1", system_prompt="Grade."
    )
    alice = _person(Student, "alice", school_class=class_one)
    bob = _person(Student, "bob", school_class=class_one)
    carol = _person(Student, "carol", school_class=class_two)
    # Linked through the table: `children=[...]` on a flushed create() inserts the link twice.
    links = [(_person(Parent, "paula").id, alice.id), (_person(Parent, "quentin").id, carol.id)]
    get_current_session().execute(
        insert(parent_students), [{"parent_id": p, "student_id": s} for p, s in links]
    )
    _person(Manager, "mona", managed_school=one)
    _person(Manager, "max", managed_school=two)
    _person(Manager, "nobody")
    _person(Student, "idle", school_class=class_one, is_active=False)
    for student, course in (
        (alice, algebra),
        (alice, biology),
        (bob, algebra),
        (carol, chemistry),
    ):
        Enrollment.create(student=student, course=course)

    def finished(student: Student, unit: LearningUnit) -> HomeHoursStudySession:
        return HomeHoursStudySession.create(
            student=student,
            learning_unit=unit,
            teacher_agent=teacher,
            status=SessionStatus.COMPLETED,
            duration_seconds=600,
        )

    a_session = finished(alice, units[0])
    Evaluation.create(
        study_session=a_session, evaluator_agent=evaluator, score=87, feedback="Solid work."
    )
    return World(
        algebra=algebra.id,
        biology=biology.id,
        chemistry=chemistry.id,
        algebra_units=tuple(u.id for u in units),
        chemistry_unit=chem_unit.id,
        a_session=a_session.id,
        b_session=finished(bob, units[1]).id,
        c_session=finished(carol, chem_unit).id,
    )


def csrf_token(client: FlaskClient) -> str:
    """The token of the client's session (created by visiting the login page if needed)."""
    with client.session_transaction() as session:
        token = session.get(SESSION_KEY)
    if token is None:
        page = client.get("/login").get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "the login form has no CSRF field"
        token = match.group(1)
    return str(token)


def post(client: FlaskClient, url: str, follow: bool = False, **data: str) -> TestResponse:
    """POST a form with the session's CSRF token, as a browser would."""
    return client.post(
        url, data={"csrf_token": csrf_token(client), **data}, follow_redirects=follow
    )


def login(client: FlaskClient, name: str, password: str = PASSWORD) -> TestResponse:
    return post(client, "/login", email=user_email(name), password=password)
