"""Revision 0007: full-text indexes over the material that was already there, the reply's
unique link, and a downgrade that removes both; on every backend."""

from __future__ import annotations

from sqlalchemy import insert, inspect

from studyhall import migrations as migrate
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import build_engine
from studyhall.models import Base
from studyhall.queries.material_search import HitKind, search_material

TABLES = Base.metadata.tables


def schema(settings: DatabaseSettings) -> tuple[set[str], set[str], set[str]]:
    """(tables, index names, study_messages columns)."""
    engine = build_engine(settings, pooled=False)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            tables = set(inspector.get_table_names())
            indexes = {
                str(index["name"]) for table in tables for index in inspector.get_indexes(table)
            }
            columns = {column["name"] for column in inspector.get_columns("study_messages")}
            return tables, indexes, columns
    finally:
        engine.dispose()


def add_material(settings: DatabaseSettings) -> None:
    engine = build_engine(settings, pooled=False)
    try:
        with engine.begin() as connection:
            for table, row in [
                ("schools", {"id": 1, "name": "Riverside"}),
                ("subjects", {"id": 1, "name": "Science"}),
                ("courses", {"id": 1, "school_id": 1, "subject_id": 1, "name": "Bio",
                             "grade_level": 7}),
                ("learning_units", {"id": 1, "course_id": 1, "position": 1, "title": "Cells",
                                    "content": "The nucleus holds the genes."}),
                ("learning_units", {"id": 2, "course_id": 1, "position": 2, "title": "Plants",
                                    "content": "Leaves and roots."}),
                ("qa_resources", {"id": 1, "learning_unit_id": 1,
                                  "question": "What is a mitochondrion?",
                                  "answer": "The powerhouse of the cell."}),
                ("qa_resources", {"id": 2, "learning_unit_id": 2, "question": "Why green?",
                                  "answer": "Chlorophyll."}),
                ("qa_resources", {"id": 3, "learning_unit_id": 2, "question": "Roots?",
                                  "answer": "They take up water."}),
            ]:  # fmt: skip
                connection.execute(insert(TABLES[table]).values(row))
    finally:
        engine.dispose()


def test_0007_indexes_the_existing_material_and_its_downgrade_removes_it(db_settings):
    migrate.upgrade(db_settings, "0006")
    before = schema(db_settings)
    add_material(db_settings)

    migrate.upgrade(db_settings, "0007")

    tables, indexes, columns = schema(db_settings)
    assert "in_reply_to_id" in columns
    if db_settings.backend == "sqlite":
        assert {"qa_resources_fts", "learning_units_fts"} <= tables
    else:
        assert {"ix_qa_resources_fulltext", "ix_learning_units_fulltext"} <= indexes
    DatabaseManager.initialize(db_settings)
    with DatabaseManager.get_session(read_only=True):
        hits = search_material(1, "Which powerhouse holds the nucleus?")
    assert [(hit.kind, hit.resource_id, hit.unit_id) for hit in hits] == [
        (HitKind.QA, 1, 1),
        (HitKind.UNIT, None, 1),
    ]
    DatabaseManager.cleanup()

    migrate.downgrade(db_settings, "0006")

    assert schema(db_settings) == before
    migrate.upgrade(db_settings, "0007")  # and again
    assert migrate.current_revision(db_settings) == "0007"
