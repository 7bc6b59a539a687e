from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from studyhall.database import DatabaseManager
from studyhall.errors import DataConflictError, SchemaError
from studyhall.models import (
    AIAgent,
    AssessmentAttempt,
    Base,
    Course,
    Enrollment,
    Evaluation,
    LearningUnit,
    Parent,
    QAResource,
    School,
    SchoolClass,
    Student,
    StudyMessage,
    StudySession,
    Subject,
    User,
)
from studyhall.sample_data import DEMO_PASSWORD, planned_rows
from studyhall.sample_data import load as sample_data
from studyhall.sample_data.rows import TABLES, Blueprint
from studyhall.services.study_session import lifecycle


def dump(database, *, skip=("password_hash",)):
    """Every row of every table, ordered by primary key (the salted hash left out)."""
    with database.engine.connect() as conn:
        return {
            table.name: [
                tuple(v for k, v in row._mapping.items() if k not in skip)
                for row in conn.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


# Tables the sample data never fills (sign-ins make user_sessions rows, services enqueue
# jobs): left out of the counts while empty, so a row in one still shows.
NOT_SAMPLE_DATA = {"user_sessions", "jobs"}


def counts(database):
    return {
        name: len(rows)
        for name, rows in dump(database).items()
        if rows or name not in NOT_SAMPLE_DATA
    }


def test_scale_1_has_the_promised_content(tables):
    summary = DatabaseManager.populate_sample_data()
    assert summary.loaded and summary.scale == 1
    assert dict(summary.rows) == planned_rows(1) == counts(tables)
    with DatabaseManager.get_session() as s:
        assert s.scalar(select(func.count()).select_from(School)) == 2
        per_school = Counter(s.scalars(select(SchoolClass.school_id)))
        assert sorted(per_school.values()) == [2, 2]
        roles = Counter(s.scalars(select(User.role)))
        assert roles == {"student": 24, "parent": 12, "manager": 2}
        assert s.scalar(select(func.count()).select_from(Subject)) == 4
        courses = s.scalars(select(Course)).all()
        assert len(courses) == 6
        for course in courses:
            assert [u.position for u in course.get_units()] == [1, 2, 3, 4, 5]
        for unit in s.scalars(select(LearningUnit)):
            (assessment,) = unit.assessments
            assert 3 <= len(assessment.questions) <= 5
            assert all(sum(c.is_correct for c in q.choices) == 1 for q in assessment.questions)
            assert len(unit.qa_resources) == 3
        for parent in s.scalars(select(Parent)):
            children = parent.get_children()
            assert len(children) == 2
            assert {c.last_name for c in children} == {parent.last_name}
        per_student = Counter(s.scalars(select(Enrollment.student_id)))
        assert len(per_student) == 24 and set(per_student.values()) == {3}
        assert sorted(s.scalars(select(AIAgent.agent_type))) == ["evaluator", "teacher"]
        statuses = Counter(s.scalars(select(StudySession.status)))
        assert set(statuses) == {"planned", "active", "completed", "cancelled"}
        assert sum(statuses.values()) == 20
        evaluated = set(s.scalars(select(Evaluation.study_session_id)))
        completed = set(
            s.scalars(select(StudySession.id).where(StudySession.status == "completed"))
        )
        assert evaluated == completed
        assert s.scalar(select(func.count()).select_from(StudyMessage)) > 100


def test_enrollments_and_sessions_are_consistent(tables):
    DatabaseManager.populate_sample_data()
    with DatabaseManager.get_session() as s:
        for session in s.scalars(select(StudySession)):
            # Each session is on a unit of a course its student is enrolled in.
            enrolled = {e.course_id for e in session.student.enrollments}
            assert session.learning_unit.course_id in enrolled
            if session.status == "completed":
                assert session.started_at < session.ended_at
                assert all(
                    session.started_at < m.sent_at <= session.ended_at for m in session.messages
                )
            if session.status == "planned":
                assert session.messages == [] and session.started_at is None
        # Each completed session's test was taken and submitted in it, and scored right.
        attempts = s.scalars(select(AssessmentAttempt)).all()
        assert {a.study_session_id for a in attempts} == set(
            s.scalars(select(StudySession.id).where(StudySession.status == "completed"))
        )
        for attempt in attempts:
            session = attempt.study_session
            assert attempt.student_id == session.student_id
            assert attempt.assessment.learning_unit_id == session.learning_unit_id
            assert session.started_at < attempt.started_at < attempt.submitted_at
            assert attempt.submitted_at < session.ended_at
            answers = attempt.answers
            assert {a.question_id for a in answers} == {q.id for q in attempt.assessment.questions}
            assert attempt.question_count == len(answers)
            assert attempt.correct_count == sum(a.choice.is_correct for a in answers)
            assert 0 < attempt.correct_count < attempt.question_count  # some right, some not


def test_ending_the_running_session_records_the_time_until_its_last_message(tables):
    # Issue 11: ended by its student long after the load, it recorded ~1,178,961 minutes.
    DatabaseManager.populate_sample_data()
    with DatabaseManager.get_session() as s:
        running = s.scalars(
            select(StudySession).where(StudySession.status == "active").order_by(StudySession.id)
        ).first()
        assert running is not None and running.student_id == 1  # student1's, in the docs
        last_message = max(m.sent_at for m in running.messages)
        assert running.updated_at == last_message

    ended = lifecycle.end(running.id)

    assert ended.ended_at == last_message
    assert ended.duration_seconds == (last_message - running.started_at).total_seconds() == 540


def test_two_loads_give_identical_rows(tables):
    DatabaseManager.populate_sample_data()
    first = dump(tables)
    summary = DatabaseManager.populate_sample_data(clear_existing=True)
    assert summary.loaded and sum(summary.deleted.values()) == sum(map(len, first.values()))
    assert dump(tables) == first


def test_second_load_changes_nothing_and_says_so(tables):
    DatabaseManager.populate_sample_data()
    before = dump(tables, skip=())
    summary = DatabaseManager.populate_sample_data(scale=2)
    assert not summary.loaded and summary.total_rows == 0
    # It says which scale is there and how to load the one asked for.
    assert "already loaded at scale 1, not 2: nothing changed" in str(summary)
    assert "studyhall-db seed --clear --scale 2" in str(summary)
    assert dump(tables, skip=()) == before


def test_clear_existing_replaces_other_rows(tables):
    with DatabaseManager.get_session():
        School.create(name="Somebody's own school")
    summary = DatabaseManager.populate_sample_data(clear_existing=True)
    assert summary.deleted["schools"] == 1
    with DatabaseManager.get_session():
        assert not School.exists(name="Somebody's own school")
    assert counts(tables) == planned_rows(1)


def test_refuses_to_mix_into_other_data(tables):
    with DatabaseManager.get_session():
        School.create(name="Somebody's own school")
    before = dump(tables)
    with pytest.raises(DataConflictError, match=r"not the sample data \(in schools\).*--clear"):
        DatabaseManager.populate_sample_data()
    assert dump(tables) == before


@pytest.mark.parametrize("preload", [False, True], ids=["empty", "reload"])
def test_a_failure_midway_leaves_the_database_as_it_was(tables, monkeypatch, preload):
    if preload:
        DatabaseManager.populate_sample_data()
    before = dump(tables, skip=())
    real = sample_data._insert_batch

    def failing(conn, table, chunk):
        if table.name == "study_messages":
            raise RuntimeError("injected failure")
        real(conn, table, chunk)

    monkeypatch.setattr(sample_data, "_insert_batch", failing)
    with pytest.raises(RuntimeError, match="injected failure"):
        DatabaseManager.populate_sample_data(clear_existing=True)
    assert dump(tables, skip=()) == before


def test_a_load_racing_another_that_commits_first_changes_nothing_and_says_so(tables, monkeypatch):
    # Two `studyhall-db setup` at once: both find no sample data, the other commits first.
    DatabaseManager.populate_sample_data()
    before = dump(tables, skip=())
    real = sample_data._sample_data_present
    calls = []

    def not_yet(conn, users):
        calls.append(users)
        return len(calls) > 1 and real(conn, users)

    monkeypatch.setattr(sample_data, "_sample_data_present", not_yet)
    monkeypatch.setattr(sample_data, "_refuse_other_data", lambda conn, tables, name: None)
    summary = DatabaseManager.populate_sample_data()
    assert not summary.loaded
    assert "already loaded: nothing changed" in str(summary)
    assert dump(tables, skip=()) == before


def test_no_password_is_stored_in_plain_text(tables):
    DatabaseManager.populate_sample_data()
    rows = dump(tables, skip=())
    assert not [v for t in rows.values() for r in t for v in r if DEMO_PASSWORD in str(v)]
    with DatabaseManager.get_session() as s:
        hashes = set(s.scalars(select(User.password_hash)))
        assert len(hashes) == 1  # hashed once per load
        for email in sample_data.DEMO_LOGINS:
            user = User.get_by_email(email)
            assert user is not None and user.check_password(DEMO_PASSWORD)
            assert not user.check_password("wrong")


def test_scale_multiplies_the_people_and_their_activity(tables):
    seen = []
    summary = sample_data.populate(tables, scale=3, batch_size=50, progress=seen.append)
    one = planned_rows(1)
    assert dict(summary.rows) == planned_rows(3) == counts(tables)
    for name in ("users", "parent_students", "enrollments", "study_sessions", "evaluations"):
        grows = summary.rows[name] - (2 if name == "users" else 0)
        assert grows == 3 * (one[name] - (2 if name == "users" else 0))
    assert summary.rows["schools"] == one["schools"]
    assert max(seen) == 50 and sum(seen) == summary.total_rows


def test_the_application_can_insert_after_seeding(tables):
    DatabaseManager.populate_sample_data()
    with DatabaseManager.get_session():
        school = School.create(name="A new school")
        subject = Subject.create(name="Art")
        qa_unit = LearningUnit.get(1)
        resource = QAResource.create(learning_unit_id=qa_unit.id, question="Q?", answer="A.")
    assert (school.id, subject.id, resource.id) == (3, 5, 91)


def test_without_tables_it_says_how_to_create_them(database):
    with pytest.raises(SchemaError, match="studyhall-db init"):
        DatabaseManager.populate_sample_data()


@pytest.mark.parametrize("scale", [0, -1, 1.5, True, "2"])
def test_bad_scale_is_refused_before_touching_the_database(scale):
    with pytest.raises(ValueError, match="whole number of at least 1"):
        planned_rows(scale)


def test_summary_reads_well():
    summary = sample_data.SampleDataSummary(
        scale=2, loaded=True, rows={"schools": 2, "users": 74}, deleted={"users": 3}, seconds=0.5
    )
    text = str(summary)
    assert text.startswith(
        "Loaded the sample data at scale 2: 76 rows in 0.50 s, after deleting 3"
    )
    assert "  users           74" in text and "student1@example.edu" in text
    assert DEMO_PASSWORD not in text


FINGERPRINT = """
import hashlib
from studyhall.sample_data.rows import TABLES, Blueprint
bp = Blueprint(2, "hash")
print(hashlib.sha256(repr([list(make(bp)) for _, make in TABLES]).encode()).hexdigest())
"""


def test_rows_are_the_same_in_every_process():
    # The rows depend on the scale alone: not on the clock, nor on the hash seed.
    outputs = {
        subprocess.run(
            [sys.executable, "-c", FINGERPRINT],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_the_seed_examples_find_student_1(tables):
    # The seed's examples read `Student.get_by(id=1, first=True)` and
    # `get_student_courses(student_id=1)`: id 1 must be a student with courses.
    DatabaseManager.populate_sample_data()
    with DatabaseManager.get_session():
        student = Student.get_by(id=1, first=True)
        assert student is not None and student.email == "student1@example.edu"
        assert student.get_courses()
        assert Course.get_by(id=5, first=True) is not None  # the seed's nested example


def test_a_load_leaves_planner_statistics_of_what_it_loaded(tables):
    # Right after a bulk load the servers' statistics still describe empty tables: MariaDB
    # then joined courses -> enrollments by course (reading every enrollment of a course)
    # for /family, 51 ms behind scale 500 instead of 1 ms. The load ends with ANALYZE.
    backend = tables.engine.dialect.name
    name = tables.settings.database
    DatabaseManager.populate_sample_data(scale=2)
    expected = planned_rows(2)["enrollments"]
    with tables.engine.connect() as conn:
        if backend == "postgresql":
            query = "SELECT reltuples FROM pg_class WHERE relname = 'enrollments'"
            assert conn.exec_driver_sql(query).scalar() == expected
        elif backend in ("mysql", "mariadb"):
            query = (
                "SELECT n_rows FROM mysql.innodb_table_stats "
                "WHERE database_name = %s AND table_name = 'enrollments'"
            )
            assert conn.exec_driver_sql(query, (name,)).scalar() == expected
        else:
            # SQLite is left to its own planner: it prefers an index for an equality
            # anyway, and sqlite_stat1 would change every plan of the embedded default.
            assert not conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).scalar()


def raw_dump(database):
    """Every row as the server stores it: read through the driver, no type processing."""
    with database.engine.connect() as conn:
        quote = conn.dialect.identifier_preparer
        return {
            table.name: [
                tuple(row)
                for row in conn.exec_driver_sql(
                    f"SELECT * FROM {quote.format_table(table)} ORDER BY "
                    + ", ".join(quote.format_column(c) for c in table.primary_key.columns)
                )
            ]
            for table in Base.metadata.sorted_tables
        }


def test_the_load_stores_exactly_what_core_executemany_stores(tables):
    # The load hands the driver its own tuples; Core would have processed each value by
    # its column type (datetimes as text on SQLite, enums, booleans). Same bytes stored.
    sample_data.populate(tables, scale=2, batch_size=700)
    loaded = raw_dump(tables)
    blueprint = Blueprint(2, sample_data.DEMO_PASSWORD_HASH)
    with tables.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        for name, make in TABLES:
            rows = list(make(blueprint))
            sample_data._fill_clock_columns(Base.metadata.tables[name], rows)
            conn.execute(Base.metadata.tables[name].insert(), rows)
    assert raw_dump(tables) == loaded
    assert sum(map(len, loaded.values())) == sum(planned_rows(2).values())


def test_the_demo_hash_is_a_hash_of_the_demo_password():
    assert check_password_hash(sample_data.DEMO_PASSWORD_HASH, DEMO_PASSWORD)
    assert not check_password_hash(sample_data.DEMO_PASSWORD_HASH, DEMO_PASSWORD + "x")
