"""Every usage flow of the seed (the module's original description), on a fresh database.

Each example is the seed's code as written, with `src.` read as `studyhall.`; names an
example uses without defining them (`Student`, `bp`, `student_id`, ...) come from the
test, as they would from the surrounding application. Every test starts from a database
that does not exist yet: on SQLite the default `./instance/` path in an empty folder, on
MariaDB and PostgreSQL a new database named in DATABASE_URL (dropped afterwards).
"""

from __future__ import annotations

import contextvars
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import flask
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from studyhall.app import create_app
from studyhall.app.auth import TOKEN_KEY
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.database.session_context import get_current_session, has_active_session
from studyhall.errors import UnsafeOperationError
from studyhall.models import Course, Student, Subject
from studyhall.models.base import Base
from studyhall.services.study_session import lifecycle
from studyhall.services.user_sessions import start_session
from tests.fresh import fresh_database

REPO = Path(__file__).resolve().parents[2]
__all__ = ["fresh_database"]  # the fixture, imported to be used here

BASIC_SETUP = """
from studyhall.database import DatabaseManager

# Initialize and create tables
DatabaseManager.initialize()
DatabaseManager.create_tables()

# Populate with sample data
DatabaseManager.populate_sample_data(clear_existing=True)
"""


def run_example(code: str, **names: Any) -> dict[str, Any]:
    """Execute a seed example with `names` defined; return its namespace."""
    namespace: dict[str, Any] = {"__name__": "seed_example", **names}
    exec(compile(textwrap.dedent(code), "<seed example>", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.fixture
def fresh(fresh_database: DatabaseSettings) -> DatabaseSettings:
    return fresh_database


@pytest.fixture
def seeded(fresh: DatabaseSettings) -> DatabaseSettings:
    """`fresh` after the seed's Basic Setup ran on it."""
    run_example(BASIC_SETUP)
    return fresh


def test_basic_setup(fresh: DatabaseSettings) -> None:
    run_example(BASIC_SETUP)
    if fresh.backend == "sqlite":
        assert Path("instance/studyhall.sqlite3").is_file()
    with DatabaseManager.get_session() as session:
        assert session.scalar(select(func.count()).select_from(Student)) == 24
    # Run again (the seed says clear_existing=True): the same data, not twice.
    run_example(BASIC_SETUP)
    with DatabaseManager.get_session() as session:
        assert session.scalar(select(func.count()).select_from(Student)) == 24


def test_the_manager_methods_the_seed_lists(fresh: DatabaseSettings, monkeypatch) -> None:
    settings = DatabaseManager.validate_environment()
    assert settings == fresh
    DatabaseManager.initialize()  # validate, create the database, build the engine
    assert DatabaseManager.ensure_database_exists() is False  # initialize() made it
    engine = DatabaseManager.create_database_engine()
    assert isinstance(engine, Engine) and engine is DatabaseManager.create_database_engine()
    assert set(DatabaseManager.create_tables()) == set(Base.metadata.tables)
    assert DatabaseManager.populate_sample_data().loaded
    assert not DatabaseManager.populate_sample_data().loaded  # clear_existing=False
    with DatabaseManager.get_session() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    # drop_tables(force=False) asks for confirmation first.
    monkeypatch.setattr(DatabaseManager, "ask", staticmethod(lambda prompt: None))
    with pytest.raises(UnsafeOperationError, match="without confirmation"):
        DatabaseManager.drop_tables()
    assert set(DatabaseManager.drop_tables(force=True)) >= set(Base.metadata.tables)
    DatabaseManager.cleanup()
    assert not DatabaseManager.is_initialized()
    DatabaseManager.initialize()  # and the next initialize() starts afresh
    assert DatabaseManager.create_database_engine() is not engine


def test_get_current_session(seeded: DatabaseSettings) -> None:
    example = """
    from studyhall.database.session_context import get_current_session

    # Access current session from anywhere
    session = get_current_session()
    student = session.query(Student).filter_by(id=1).first()

    # Raises RuntimeError if no active session context
    """
    with DatabaseManager.get_session() as session:
        names = run_example(example, Student=Student)
        assert names["session"] is session
        assert isinstance(names["student"], Student) and names["student"].id == 1
    with pytest.raises(RuntimeError, match="No database session is active"):
        run_example(example, Student=Student)


def test_set_current_session(seeded: DatabaseSettings) -> None:
    example = """
    # Used internally by context managers
    set_current_session(session)
    """
    from studyhall.database.session_context import set_current_session

    session = DatabaseManager.database().session_factory()

    def run() -> Session:
        run_example(example, set_current_session=set_current_session, session=session)
        return get_current_session()

    try:
        # In a copy of the context: the example keeps no token to undo what it set.
        assert contextvars.copy_context().run(run) is session
    finally:
        session.close()
    assert not has_active_session()


def test_has_active_session(seeded: DatabaseSettings) -> None:
    example = """
    # Check if session context is active
    if has_active_session():
        session = get_current_session()
    """
    names = {"has_active_session": has_active_session, "get_current_session": get_current_session}
    assert "session" not in run_example(example, **names)
    with DatabaseManager.get_session() as session:
        assert run_example(example, **names)["session"] is session


def test_session_context(seeded: DatabaseSettings) -> None:
    # The seed's `with` block holds only comments; one statement makes it run, and shows
    # the auto-commit it describes.
    example = """
    from studyhall.database.session_context import SessionContext

    session = create_session()
    with SessionContext(session, auto_commit=True):
        # Session available via get_current_session()
        # Auto-commits on success, rolls back on exception
        # Closes session on exit
        get_current_session().add(Subject(name="Seed subject"))
    """
    names = {
        "create_session": DatabaseManager.database().session_factory,
        "get_current_session": get_current_session,
        "Subject": Subject,
    }
    run_example(example, **names)
    assert not has_active_session()
    with DatabaseManager.get_session():
        assert Subject.exists(name="Seed subject")
    failing = example.replace('Subject(name="Seed subject"))', 'Subject(name="Gone")); 1 / 0')
    with pytest.raises(ZeroDivisionError):
        run_example(failing, **names)
    with DatabaseManager.get_session():
        assert not Subject.exists(name="Gone")


def test_with_db_session_decorator(seeded: DatabaseSettings) -> None:
    example = """
    from studyhall.database import with_db_session

    @with_db_session
    def my_function():
        # Session automatically available
        session = get_current_session()
        student = Student.get_by(id=1, first=True)
        return student

    # No need to pass session as parameter
    result = my_function()
    """
    names = run_example(example, get_current_session=get_current_session, Student=Student)
    assert isinstance(names["result"], Student) and names["result"].id == 1
    assert not has_active_session()


def test_in_flask_routes(seeded: DatabaseSettings) -> None:
    example = """
    from studyhall.database import with_db_session
    from studyhall.app.auth import login_required

    @bp.route('/my_courses')
    @login_required
    @with_db_session
    def my_courses():
        # Session context automatically established
        student = Student.get_by(id=student_id, first=True)
        courses = student.get_courses()
        return render_template('my_courses.html', courses=courses)
    """
    bp = flask.Blueprint("seed", __name__, url_prefix="/seed")

    def render_template(name: str, **context: Any) -> str:
        # Our template also shows each course's subject; the example passes courses only.
        return flask.render_template(name, subjects={}, **context)

    run_example(example, bp=bp, Student=Student, student_id=1, render_template=render_template)
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret"})
    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/seed/my_courses").status_code == 302  # login_required
    with client.session_transaction() as cookie:
        cookie.update(user_id=1, role="student", name="Student One")
        cookie[TOKEN_KEY] = start_session(1)
    page = client.get("/seed/my_courses")
    assert page.status_code == 200
    with DatabaseManager.get_session():
        expected = [course.name for course in Student.get(1).get_courses()]
    assert expected and all(name in page.get_data(as_text=True) for name in expected)


def test_nested_context(seeded: DatabaseSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    example = """
    @with_db_session
    def outer_function():
        # Creates session context
        student = Student.get_by(id=1, first=True)
        inner_function()  # Reuses same session
        return student

    @with_db_session
    def inner_function():
        # Reuses existing session context
        # No new session created
        course = Course.get_by(id=5, first=True)
        return course
    """
    from studyhall.database import with_db_session

    database = DatabaseManager.database()
    factory = database.session_factory
    opened: list[Session] = []

    def counting_factory(**kwargs: Any) -> Session:
        opened.append(factory(**kwargs))
        return opened[-1]

    monkeypatch.setattr(database, "session_factory", counting_factory)
    names = run_example(example, with_db_session=with_db_session, Student=Student, Course=Course)
    student = names["outer_function"]()
    assert isinstance(student, Student) and student.id == 1
    assert len(opened) == 1  # the inner call joined the outer session
    assert isinstance(names["inner_function"](), Course)


def test_context_manager_low_level(seeded: DatabaseSettings) -> None:
    example = """
    from studyhall.database import DatabaseManager

    # Context manager for explicit control
    with DatabaseManager.get_session() as session:
        # Session available in context
        from studyhall.database.session_context import get_current_session
        session = get_current_session()

        student = Student.get_by(id=1, first=True)
        # Changes are automatically committed on successful exit
        # Rolled back on exception
    """
    names = run_example(example, Student=Student)
    assert isinstance(names["student"], Student) and names["student"].id == 1
    assert not has_active_session()


def test_decorator_recommended(seeded: DatabaseSettings) -> None:
    example = """
    from studyhall.database import with_db_session
    from studyhall.models import Student

    @with_db_session
    def get_student_courses(student_id):
        # No session parameter needed
        student = Student.get_by(id=student_id, first=True)
        return student.get_courses()

    # Clean, simple calls
    courses = get_student_courses(student_id=1)
    """
    courses = run_example(example)["courses"]
    assert courses and all(isinstance(course, Course) for course in courses)


def test_in_models(seeded: DatabaseSettings) -> None:
    # The seed sketches how a model's `get_by` works (it redefines Student, so it is not
    # run): a classmethod `get_by(first=False, **filters)` on the current session.
    assert issubclass(Student, Base)
    parameters = inspect.signature(Student.get_by).parameters
    assert parameters["first"].default is False
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    with pytest.raises(RuntimeError, match="No database session is active"):
        Student.get_by(id=1, first=True)
    with DatabaseManager.get_session() as session:
        assert Student.get_by(id=1, first=True) is session.get(Student, 1)
        assert [s.id for s in Student.get_by(id=[1, 2])] == [1, 2]


def test_in_services(seeded: DatabaseSettings) -> None:
    # services/study_session/lifecycle.py: a service uses the current session, adds,
    # flushes for the id, and the decorator commits.
    with DatabaseManager.get_session():
        unit = Student.get(1).get_courses()[0].get_units()[0]
    planned = lifecycle.create_home_study_session(student_id=1, learning_unit_id=unit.id)
    assert planned.id is not None
    with DatabaseManager.get_session() as session:
        assert session.get(type(planned), planned.id) is not None  # committed


def test_standalone_script(fresh: DatabaseSettings, tmp_path: Path) -> None:
    # python src/database/setup.py, from anywhere (here: the empty folder of the test).
    script = REPO / "src" / "studyhall" / "database" / "setup.py"
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Loaded the sample data at scale 1" in result.stdout
    assert "Traceback" not in result.stderr
    with DatabaseManager.get_session():
        assert Student.get_by(id=1, first=True).email == "student1@example.edu"
