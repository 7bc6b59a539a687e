"""db/backends/fulltext.py: each backend's own full-text index on any table, kept in sync,
searched with bound text only; on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, inspect, text

from studyhall.db.backends.fulltext import (
    FullTextIndex,
    attach,
    is_fulltext_object,
    query_text,
    words_of,
)
from studyhall.db.schema import drop_tables

INDEX = FullTextIndex("notes", ("title", "body"))


@pytest.fixture
def notes(database):
    """A `notes` table with its full-text index and four committed rows."""
    metadata = MetaData()
    table = Table(
        "notes",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("title", String(100), nullable=False),
        Column("body", Text),
    )
    attach(table, INDEX)
    metadata.create_all(database.engine)
    with database.engine.begin() as connection:
        connection.execute(
            table.insert(),
            [
                {"id": 1, "title": "Volcanoes", "body": "Magma rises through the crust."},
                {"id": 2, "title": "Rivers", "body": "Water erodes the valley floor."},
                {"id": 3, "title": "Deserts", "body": None},
                {"id": 4, "title": "Glaciers", "body": "Ice carves valleys slowly."},
            ],
        )
    yield database.engine, table, metadata
    drop_tables(database.engine, metadata)


def find(engine, words: list[str]) -> list[int]:
    dialect = engine.dialect.name
    found = INDEX.fragments(dialect, "n", "q")
    sql = (
        f"SELECT n.id, {found.score} AS score FROM {found.source} "  # noqa: S608
        f"WHERE {found.condition} ORDER BY score DESC, n.id"
    )
    with engine.connect() as connection:
        return [row.id for row in connection.execute(text(sql), {"q": query_text(words, dialect)})]


def test_any_word_matches_and_the_better_match_ranks_first(notes):
    engine, _, _ = notes
    assert find(engine, ["valley", "ice", "carves"]) == [4, 2]  # stems: valleys, valley
    assert find(engine, ["magma"]) == [1]
    assert find(engine, ["deserts"]) == [3]  # a NULL column is no obstacle
    assert find(engine, ["tundra"]) == []


def test_the_index_follows_updates_and_deletes(notes):
    engine, table, _ = notes
    with engine.begin() as connection:
        connection.execute(table.update().where(table.c.id == 1).values(body="Lava cools."))
        connection.execute(table.delete().where(table.c.id == 2))
    assert find(engine, ["magma"]) == []
    assert find(engine, ["lava"]) == [1]
    assert find(engine, ["erodes"]) == []


@pytest.mark.parametrize(
    "attack",
    ['magma" OR "', "' OR 1=1 --", "magma*", "NEAR(magma ice)", "-magma", "magma:ice", "(("],
)
def test_words_with_quotes_and_operators_are_only_words(notes, attack):
    engine, _, _ = notes
    words = words_of(attack)
    assert find(engine, words) == find(engine, [word for word in words if word.isalnum()])


def test_dropping_the_tables_drops_the_index_tables_too(notes):
    engine, _, metadata = notes
    drop_tables(engine, metadata)
    with engine.connect() as connection:
        assert [
            name for name in inspect(connection).get_table_names() if name.startswith("notes")
        ] == []


def test_sqlalchemys_own_drop_all_drops_them_too_so_create_all_works_again(notes):
    # metadata.drop_all() then create_all() is what users and benchmarks do to start over.
    engine, _, metadata = notes
    metadata.drop_all(engine)
    with engine.connect() as connection:
        assert [
            name for name in inspect(connection).get_table_names() if name.startswith("notes")
        ] == []
    metadata.create_all(engine)
    assert find(engine, ["magma"]) == []


@pytest.mark.parametrize(
    ("words", "dialect", "expected"),
    [
        (["leaf", 'x"y'], "sqlite", '"leaf" OR "x" OR "y"'),
        (["leaf", "or", "tree"], "postgresql", "leaf or tree"),
        (["leaf", "-tree*"], "mysql", "leaf tree"),
        ([], "sqlite", '""'),
        (["-"], "postgresql", ""),
    ],
)
def test_query_text(words, dialect, expected):
    assert query_text(words, dialect) == expected


def test_words_of():
    assert words_of("Leaf, LEAF; photo_synthesis -x* 'y'") == [
        "leaf",
        "photo",
        "synthesis",
        "x",
        "y",
    ]


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("ix_notes_fulltext", "index", True),
        ("ix_notes_title", "index", False),
        ("notes_fts", "table", True),
        ("notes_fts_docsize", "table", True),
        ("notes", "table", False),
        (None, "index", False),
    ],
)
def test_is_fulltext_object(name, kind, expected):
    assert is_fulltext_object(name, kind) is expected


@pytest.mark.parametrize("name", ["Notes", "notes; DROP", "1notes", ""])
def test_names_are_plain_identifiers(name):
    with pytest.raises(ValueError, match="plain lower-case SQL name"):
        FullTextIndex(name, ("title",))


def test_the_search_reads_the_index(notes):
    """The query repeats the index's own expression, so the engine can read the index."""
    engine, _, _ = notes
    dialect = engine.dialect.name
    found = INDEX.fragments(dialect, "n", "q")
    sql = f"SELECT n.id FROM {found.source} WHERE {found.condition}"  # noqa: S608
    explain = {"sqlite": "EXPLAIN QUERY PLAN ", "postgresql": "EXPLAIN "}.get(dialect, "EXPLAIN ")
    with engine.begin() as connection:
        if dialect == "postgresql":  # four rows: make the planner show it can use the index
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = " ".join(
            str(row)
            for row in connection.execute(
                text(explain + sql), {"q": query_text(["magma"], dialect)}
            )
        )
    expected = {"sqlite": "VIRTUAL TABLE", "postgresql": INDEX.name}.get(dialect, "fulltext")
    assert expected in plan
