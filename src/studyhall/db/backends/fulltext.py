"""Full-text indexes with each database's own engine, behind one description.

A `FullTextIndex` names a table and its text columns. For each backend it gives the DDL
that indexes them and the SQL fragments that search them:

- MySQL / MariaDB: a `FULLTEXT` index, searched with `MATCH ... AGAINST (... IN NATURAL
  LANGUAGE MODE)`, which reads no operators in the searched text;
- PostgreSQL: a GIN index on the expression `to_tsvector(language, columns)`, searched
  with `@@ websearch_to_tsquery(...)` and ranked with `ts_rank` (the query repeats the
  index's expression, so the planner can use it);
- SQLite: an FTS5 table over the table's rows (`content=`, so the text is stored once),
  kept in sync by three triggers, ranked with `bm25`.

`attach` has `create_all` build them after the table; the migration that adds them runs
the same statements. The searched text is always a bound parameter; `query_text` turns
a list of plain words into what each engine expects (an OR of quoted terms for FTS5 and
`websearch_to_tsquery`), so a user's quotes, operators or SQL cannot change the query.
The scores of different backends are on different scales: compare them within one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import DDL, FromClause, Table, event

# The suffix of an FTS5 table and of its shadow tables (SQLite).
FTS_SUFFIX = "_fts"
_SHADOW_SUFFIXES = ("", "_data", "_idx", "_docsize", "_config", "_content")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_WORD = re.compile(r"\w+")
# Companion tables a drop must remove with the table (read by `schema.drop_tables`).
COMPANIONS_KEY = "companion_tables"


@dataclass(frozen=True)
class Fragments:
    """SQL pieces of a search over one index: what to select FROM (the table under
    `alias`), the WHERE condition, and the score expression (higher is better)."""

    source: str
    condition: str
    score: str


@dataclass(frozen=True)
class FullTextIndex:
    """A full-text index over `columns` of `table`; `language` is PostgreSQL's text
    search configuration (SQLite stems English with the porter tokenizer)."""

    table: str
    columns: tuple[str, ...]
    language: str = "english"

    def __post_init__(self) -> None:
        for name in (self.table, *self.columns, self.language):
            if not _IDENTIFIER.fullmatch(name):
                raise ValueError(f"{name!r} is not a plain lower-case SQL name.")

    @property
    def name(self) -> str:
        """The index's name (MySQL, PostgreSQL)."""
        return f"ix_{self.table}_fulltext"

    @property
    def fts_table(self) -> str:
        """The FTS5 table's name (SQLite)."""
        return f"{self.table}{FTS_SUFFIX}"

    def create_statements(self, dialect: str) -> list[str]:
        """The DDL that builds the index on `dialect` (a dialect name)."""
        columns = ", ".join(self.columns)
        if dialect in ("mysql", "mariadb"):
            return [f"CREATE FULLTEXT INDEX {self.name} ON {self.table} ({columns})"]
        if dialect == "postgresql":
            return [f"CREATE INDEX {self.name} ON {self.table} USING gin ({self._vector(None)})"]
        if dialect == "sqlite":
            return self._sqlite_statements()
        return []

    def drop_statements(self, dialect: str) -> list[str]:
        """The DDL that removes the index (the table stays)."""
        if dialect in ("mysql", "mariadb"):
            return [f"DROP INDEX {self.name} ON {self.table}"]
        if dialect == "postgresql":
            return [f"DROP INDEX {self.name}"]
        if dialect == "sqlite":
            triggers = [f"DROP TRIGGER {self.fts_table}_{when}" for when in ("ai", "ad", "au")]
            return [*triggers, f"DROP TABLE {self.fts_table}"]
        return []

    def fill_statements(self, dialect: str) -> list[str]:
        """What indexes the rows a table had before its index (SQLite's FTS5 only)."""
        if dialect == "sqlite":
            fts = self.fts_table
            return [f"INSERT INTO {fts}({fts}) VALUES ('rebuild')"]  # noqa: S608 (checked names)
        return []

    def fragments(self, dialect: str, alias: str, parameter: str) -> Fragments:
        """How to search the table as `alias` for the bound `:parameter`, whose value is
        `query_text(words, dialect)`."""
        if dialect in ("mysql", "mariadb"):
            columns = ", ".join(f"{alias}.{column}" for column in self.columns)
            match = f"MATCH ({columns}) AGAINST (:{parameter} IN NATURAL LANGUAGE MODE)"
            return Fragments(f"{self.table} AS {alias}", match, match)
        if dialect == "postgresql":
            vector = self._vector(alias)
            query = f"websearch_to_tsquery('{self.language}'::regconfig, :{parameter})"
            return Fragments(
                f"{self.table} AS {alias}", f"{vector} @@ {query}", f"ts_rank({vector}, {query})"
            )
        if dialect == "sqlite":
            fts = self.fts_table
            return Fragments(
                f"{fts} JOIN {self.table} AS {alias} ON {alias}.id = {fts}.rowid",
                f"{fts} MATCH :{parameter}",
                # bm25 is lower for better matches.
                f"-bm25({fts})",
            )
        raise ValueError(f"No full-text search on {dialect!r}.")

    def _vector(self, alias: str | None) -> str:
        prefix = f"{alias}." if alias else ""
        document = " || ' ' || ".join(f"coalesce({prefix}{c}, '')" for c in self.columns)
        return f"to_tsvector('{self.language}'::regconfig, {document})"

    def _sqlite_statements(self) -> list[str]:
        fts, table = self.fts_table, self.table
        columns = ", ".join(self.columns)
        new = ", ".join(f"new.{column}" for column in self.columns)
        old = ", ".join(f"old.{column}" for column in self.columns)
        # Every name here passed __post_init__'s check.
        insert = f"INSERT INTO {fts}(rowid, {columns}) VALUES (new.id, {new});"  # noqa: S608
        remove = (
            f"INSERT INTO {fts}({fts}, rowid, {columns}) "  # noqa: S608
            f"VALUES ('delete', old.id, {old});"
        )
        return [
            f"CREATE VIRTUAL TABLE {fts} USING fts5({columns}, content='{table}', "
            "content_rowid='id', tokenize='porter unicode61')",
            f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {insert} END",
            f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {remove} END",
            f"CREATE TRIGGER {fts}_au AFTER UPDATE ON {table} BEGIN {remove} {insert} END",
        ]


def attach(table: FromClause, index: FullTextIndex) -> None:
    """Have `create_all` build `index` right after `table` (a model's `__table__`)."""
    if not isinstance(table, Table):
        raise TypeError(f"A full-text index goes on a Table, not on {table!r}.")
    if index.table != table.name:
        raise ValueError(f"The index is of {index.table!r}, not of {table.name!r}.")
    for dialect in ("mysql", "mariadb", "postgresql", "sqlite"):
        for statement in index.create_statements(dialect):
            ddl = DDL(statement)  # type: ignore[no-untyped-call]
            event.listen(table, "after_create", ddl.execute_if(dialect=dialect))
    # DROP TABLE of the content table leaves SQLite's FTS5 table behind (its triggers go):
    # dropped with it here, SQLAlchemy's own `metadata.drop_all()` then `create_all()`
    # starts over cleanly too, not only studyhall's drop_tables.
    companion = DDL(f"DROP TABLE IF EXISTS {index.fts_table}")  # type: ignore[no-untyped-call]
    event.listen(table, "after_drop", companion.execute_if(dialect="sqlite"))
    table.info.setdefault(COMPANIONS_KEY, []).append(index.fts_table)


def query_text(words: Sequence[str], dialect: str) -> str:
    """The searched text for `dialect` that matches any of `words` (plain words, as
    `words_of` gives them; anything else in them is dropped). No words match nothing."""
    plain = [part for word in words for part in _WORD.findall(word)]
    if dialect == "sqlite":
        # An empty phrase matches nothing (an empty MATCH text is a syntax error).
        return " OR ".join(f'"{word}"' for word in plain) or '""'
    if dialect == "postgresql":
        # websearch_to_tsquery reads "or" as OR; the word "or" itself is no search term.
        return " or ".join(word for word in plain if word.lower() != "or")
    return " ".join(plain)


def words_of(text: str) -> list[str]:
    """The words of `text` (letters, digits), lower-case, each once, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        for part in word.split("_"):
            if part:
                seen.setdefault(part, None)
    return list(seen)


def is_fulltext_object(name: str | None, type_: str) -> bool:
    """Whether a reflected table or index is one of these indexes' own (FTS5 tables and
    their shadows, the FULLTEXT and GIN indexes): the models do not declare them as
    tables or indexes, so schema comparisons leave them out."""
    if name is None:
        return False
    if type_ == "index":
        return name.startswith("ix_") and name.endswith("_fulltext")
    if type_ == "table":
        return any(name.endswith(FTS_SUFFIX + shadow) for shadow in _SHADOW_SUFFIXES)
    return False


__all__ = [
    "COMPANIONS_KEY",
    "FTS_SUFFIX",
    "Fragments",
    "FullTextIndex",
    "attach",
    "is_fulltext_object",
    "query_text",
    "words_of",
]
