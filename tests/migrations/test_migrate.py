"""Migrations: the initial revision builds exactly the models' schema, on every backend."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect

from studyhall import migrations as migrate
from studyhall.config import DatabaseSettings
from studyhall.db.backends import build_engine
from studyhall.models import Base

VERSION_TABLE = "alembic_version"


def schema_of(settings: DatabaseSettings) -> tuple[list[Any], dict[str, set[str]]]:
    """The differences between the database and the models, and its CHECK names per table."""
    engine = build_engine(settings, pooled=False)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
            inspector = inspect(connection)
            checks = {
                table: {c["name"] for c in inspector.get_check_constraints(table)}
                for table in inspector.get_table_names()
                if table != VERSION_TABLE
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

    assert migrate.current_revision(db_settings) == migrate.head_revision() == "0001"
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


def test_the_url_comes_from_the_configuration(db_settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_settings.url.render_as_string(hide_password=False))
    migrate.upgrade()
    assert migrate.current_revision() == "0001"
    assert {"users", "study_sessions", VERSION_TABLE} <= tables_of(db_settings)


def test_the_manager_database_is_accepted(database):
    migrate.upgrade(database)
    assert migrate.current_revision(database) == "0001"
