"""Migrations: the initial revision builds exactly the models' schema, on every backend;
create_tables() and the migrations agree on what a database's revision is."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect

from studyhall import migrations as migrate
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import build_engine
from studyhall.db.backends.fulltext import is_fulltext_object
from studyhall.errors import MigrationError
from studyhall.models import Base
from studyhall.models.constraints import schema_filter

VERSION_TABLE = "alembic_version"
HEAD = "0007"


def schema_of(settings: DatabaseSettings) -> tuple[list[Any], dict[str, set[str]]]:
    """The differences between the database and the models, and its CHECK names per table."""
    engine = build_engine(settings, pooled=False)
    try:
        with engine.connect() as connection:
            # What the models make on this backend: one_true_per_parent differs by backend.
            include = schema_filter(Base.metadata, connection.dialect.name)
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": include}
            )
            differences = compare_metadata(context, Base.metadata)
            inspector = inspect(connection)
            checks = {
                table: {c["name"] for c in inspector.get_check_constraints(table)}
                for table in inspector.get_table_names()
                if table != VERSION_TABLE and not is_fulltext_object(table, "table")
            }
        return differences, checks
    finally:
        engine.dispose()


def tables_of(settings: DatabaseSettings) -> set[str]:
    engine = build_engine(settings, pooled=False)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_matches_the_models_and_downgrade_removes_everything(db_settings):
    assert migrate.current_revision(db_settings) is None

    migrate.upgrade(db_settings)

    assert migrate.current_revision(db_settings) == migrate.head_revision() == HEAD
    differences, checks = schema_of(db_settings)
    assert differences == []
    # Alembic does not compare CHECK constraints: compare their names here.
    assert checks == {
        table.name: {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        for table in Base.metadata.sorted_tables
    }

    # The comparison does see a difference when there is one.
    engine = build_engine(db_settings, pooled=False)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "DROP INDEX ix_courses_grade_level" + (" ON courses" if db_settings.is_mysql else "")
        )
    engine.dispose()
    assert [d[0] for d in schema_of(db_settings)[0]] == ["add_index"]

    migrate.downgrade(db_settings)

    assert migrate.current_revision(db_settings) is None
    assert tables_of(db_settings) <= {VERSION_TABLE}


# (indexes a revision creates, indexes it drops); its downgrade undoes both.
REVISION_INDEXES = {
    "0002": (
        {
            "ix_study_sessions_student_id_created_at",
            "ix_study_sessions_learning_unit_id_status",
            "ix_users_school_class_id_role",
            "ix_enrollments_course_id_status",
        },
        set(),
    ),
    "0003": (
        {"ix_users_school_class_id_last_name", "ix_study_messages_study_session_id_id"},
        {"ix_study_messages_study_session_id"},
    ),
    "0004": ({"ix_user_sessions_user_id", "ix_user_sessions_expires_at"}, set()),
    "0005": ({"ix_jobs_status_run_after", "ix_jobs_dedupe_key"}, set()),
    "0006": (
        {
            "uq_assessment_choices_question_id_id",
            "uq_assessment_choices_one_correct",
            "ix_assessment_attempts_assessment_id",
            "ix_assessment_attempts_student_id",
            "uq_assessment_attempts_study_session_id_assessment_id",
            "ix_attempt_answers_question_id_choice_id",
            "uq_attempt_answers_attempt_id_question_id",
        },
        set(),
    ),
}


def index_names(settings: DatabaseSettings) -> set[str]:
    engine = build_engine(settings, pooled=False)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            return {
                str(index["name"])
                for table in inspector.get_table_names()
                for index in inspector.get_indexes(table)
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("revision", sorted(REVISION_INDEXES))
def test_a_revision_makes_and_drops_its_indexes_and_its_downgrade_undoes_it(db_settings, revision):
    previous = f"{int(revision) - 1:04}"
    migrate.upgrade(db_settings, previous)
    before = index_names(db_settings)

    migrate.upgrade(db_settings, revision)

    assert migrate.current_revision(db_settings) == revision
    after = index_names(db_settings)
    created, dropped = REVISION_INDEXES[revision]
    assert (after - before, before - after) == (created, dropped)

    migrate.downgrade(db_settings, previous)

    assert migrate.current_revision(db_settings) == previous
    assert index_names(db_settings) == before


def test_the_url_comes_from_the_configuration(db_settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_settings.url.render_as_string(hide_password=False))
    migrate.upgrade()
    assert migrate.current_revision() == HEAD
    assert {"users", "study_sessions", VERSION_TABLE} <= tables_of(db_settings)


def test_the_manager_database_is_accepted(database):
    migrate.upgrade(database)
    assert migrate.current_revision(database) == HEAD


# create_tables() and migrations agree: a database built from the models records the head,
# a database with tables but no record is refused with the command to run.


def execute(settings: DatabaseSettings, *statements: str) -> None:
    engine = build_engine(settings, pooled=False)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def unstamped(settings: DatabaseSettings) -> None:
    """Build the tables as create_tables() did before it recorded a revision."""
    engine = build_engine(settings, pooled=False)
    try:
        with engine.begin() as connection:
            Base.metadata.create_all(connection)
    finally:
        engine.dispose()


def record(settings: DatabaseSettings, revision: str) -> None:
    """Write `revision` into Alembic's table, as another version of studyhall would."""
    execute(
        settings,
        f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL)",
        f"DELETE FROM {VERSION_TABLE}",
        f"INSERT INTO {VERSION_TABLE} (version_num) VALUES ('{revision}')",
    )


def versions_of(settings: DatabaseSettings) -> list[str]:
    engine = build_engine(settings, pooled=False)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}")
            return [row[0] for row in rows]
    finally:
        engine.dispose()


def test_create_tables_on_a_fresh_database_records_the_head_so_upgrade_is_a_no_op(
    database, db_settings
):
    created = DatabaseManager.create_tables()

    assert set(created) == set(Base.metadata.tables)  # the revision table is not counted
    assert versions_of(db_settings) == [migrate.head_revision()]
    migrate.upgrade(database)
    assert migrate.current_revision(database) == migrate.head_revision()
    assert schema_of(db_settings)[0] == []
    # Once more changes nothing, and records nothing twice.
    assert DatabaseManager.create_tables() == []
    assert versions_of(db_settings) == [migrate.head_revision()]


def test_two_create_tables_at_once_record_the_head_once(database, db_settings):
    barrier = threading.Barrier(2)

    def create() -> list[str]:
        barrier.wait()
        return DatabaseManager.create_tables()

    with ThreadPoolExecutor(2) as pool:
        outcomes = [f.result(timeout=120) for f in [pool.submit(create) for _ in range(2)]]
    assert sorted(map(len, outcomes)) == [0, len(Base.metadata.tables)]
    assert versions_of(db_settings) == [migrate.head_revision()]


def test_a_stale_record_on_a_database_without_tables_is_replaced(database, db_settings):
    # Tables dropped by hand, Alembic's record left behind: the new tables are the head.
    record(db_settings, "0000feedface")
    DatabaseManager.create_tables()
    assert versions_of(db_settings) == [migrate.head_revision()]


def test_upgrade_of_tables_without_a_record_says_to_stamp_and_changes_nothing(db_settings):
    unstamped(db_settings)

    with pytest.raises(MigrationError) as info:
        migrate.upgrade(db_settings)

    message = str(info.value)
    assert "\n" not in message
    assert "no Alembic revision" in message
    assert "its schema is this version's" in message
    assert "`studyhall-db stamp`" in message
    assert migrate.current_revision(db_settings) is None
    # What it says to do works.
    migrate.stamp(db_settings)
    assert migrate.current_revision(db_settings) == migrate.head_revision()
    migrate.upgrade(db_settings)
    assert schema_of(db_settings)[0] == []


def test_upgrade_of_tables_without_a_record_and_another_schema_names_the_revisions(
    db_settings,
):
    unstamped(db_settings)
    execute(
        db_settings,
        "DROP INDEX ix_courses_grade_level" + (" ON courses" if db_settings.is_mysql else ""),
    )

    with pytest.raises(MigrationError) as info:
        migrate.upgrade(db_settings)

    message = str(info.value)
    assert "\n" not in message
    assert "not this version's" in message and "ix_courses_grade_level" in message
    assert "`studyhall-db stamp REVISION`" in message
    assert "known revisions: 0001, 0002" in message
    assert migrate.current_revision(db_settings) is None


def test_create_tables_on_tables_without_a_record_creates_the_missing_and_records_nothing(
    database, db_settings
):
    unstamped(db_settings)
    execute(db_settings, "DROP TABLE study_messages")

    assert DatabaseManager.create_tables() == ["study_messages"]

    # Whether the other tables are this version's is not known: adopting is for the operator.
    assert migrate.current_revision(db_settings) is None


def test_create_tables_refuses_a_database_at_a_revision_that_is_not_the_head(
    database, db_settings
):
    migrate.upgrade(db_settings)
    execute(db_settings, "DROP TABLE study_messages")
    record(db_settings, "9999abcdef")

    with pytest.raises(MigrationError) as info:
        DatabaseManager.create_tables()

    message = str(info.value)
    assert "'9999abcdef'" in message and "newer version of studyhall" in message
    assert "study_messages" not in tables_of(db_settings)  # nothing was created


def test_upgrade_of_a_revision_it_does_not_know_is_one_clear_error(db_settings):
    migrate.upgrade(db_settings)
    record(db_settings, "9999abcdef")
    with pytest.raises(MigrationError) as info:
        migrate.upgrade(db_settings)
    message = str(info.value)
    assert "\n" not in message
    assert "'9999abcdef'" in message and "newer version of studyhall" in message


@pytest.mark.parametrize(
    ("revision", "says"),
    [
        ("nonesuch", "No revision 'nonesuch'"),
        ("head", "none of the studyhall tables"),
    ],
)
def test_stamp_refuses_what_would_leave_a_wrong_record(db_settings, revision, says):
    with pytest.raises(MigrationError, match=re.escape(says)) as info:
        migrate.stamp(db_settings, revision)
    assert "\n" not in str(info.value)
    assert migrate.current_revision(db_settings) is None


def test_stamp_purge_replaces_a_revision_it_does_not_know(db_settings):
    unstamped(db_settings)
    record(db_settings, "9999abcdef")
    with pytest.raises(MigrationError, match="--purge"):
        migrate.stamp(db_settings)
    migrate.stamp(db_settings, purge=True)
    assert versions_of(db_settings) == [migrate.head_revision()]


def test_stamp_base_forgets_the_revision(db_settings):
    migrate.upgrade(db_settings)
    migrate.stamp(db_settings, "base")
    assert migrate.current_revision(db_settings) is None
