"""Table constraints that several models share."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from sqlalchemy import DDL, CheckConstraint, Index, MetaData, Table, UniqueConstraint, event

from studyhall.db.backends.fulltext import is_fulltext_object

# Backends with partial indexes (CREATE UNIQUE INDEX ... WHERE ...).
PARTIAL_INDEX_DIALECTS = ("postgresql", "sqlite")
MYSQL_DIALECTS = ("mysql", "mariadb")
# Index.info key: the dialects an index exists on (absent: every dialect).
DIALECTS = "studyhall_dialects"
# Table.info key: names of columns and indexes that exist on MySQL/MariaDB only.
MYSQL_ONLY = "studyhall_mysql_only"


def enum_check(column: str, enum_class: type[StrEnum], name: str) -> CheckConstraint:
    """A CHECK constraint keeping `column` within the values of `enum_class`."""
    values = ", ".join(f"'{member.value}'" for member in enum_class)
    return CheckConstraint(f"{column} IN ({values})", name=name)


def position_constraints(parent: str) -> tuple[UniqueConstraint, CheckConstraint]:
    """For rows ordered within a parent: positions 1, 2, ... unique per `parent` column.

    The unique constraint also indexes `parent` (its leading column), the foreign key.
    """
    return (
        UniqueConstraint(parent, "position"),
        CheckConstraint("position >= 1", name="position_positive"),
    )


def one_true_per_parent(table: Table, parent: str, flag: str, name: str, key: str) -> None:
    """At most one row of `table` per `parent` with the boolean `flag` true, kept by the
    database on every backend; a second such row is an IntegrityError.

    PostgreSQL and SQLite: a partial unique index `name` on `parent` WHERE `flag`.
    MySQL/MariaDB have no partial index (and MariaDB no functional one): there a virtual
    generated column `key` holds `parent` where `flag` is true and NULL elsewhere, with a
    unique key `name` on it (NULLs never collide). The column is the backend's means, not
    data: it is not in the model, and `schema_filter` leaves it out of comparisons.
    """
    condition = table.c[flag]
    # ddl_if and execute_if take a tuple of dialects (documented); their stubs say str.
    Index(
        name,
        table.c[parent],
        unique=True,
        postgresql_where=condition,
        sqlite_where=condition,
        info={DIALECTS: PARTIAL_INDEX_DIALECTS},
    ).ddl_if(dialect=PARTIAL_INDEX_DIALECTS)  # type: ignore[arg-type]
    event.listen(
        table,
        "after_create",
        DDL(  # type: ignore[no-untyped-call]
            f"ALTER TABLE {table.name} ADD COLUMN {key} INTEGER"
            f" AS (CASE WHEN {flag} THEN {parent} END) VIRTUAL,"
            f" ADD CONSTRAINT {name} UNIQUE ({key})"
        ).execute_if(dialect=MYSQL_DIALECTS),  # type: ignore[arg-type]
    )
    table.info.setdefault(MYSQL_ONLY, set()).update({key, name})


IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]


def schema_filter(metadata: MetaData, dialect: str) -> IncludeObject:
    """An Alembic `include_object` comparing only what `metadata` makes on `dialect`.

    Leaves out the model's indexes made on other dialects only, on MySQL/MariaDB the
    columns and keys that exist there only (see `one_true_per_parent`), and the
    full-text indexes and FTS5 tables (see `studyhall.db.backends.fulltext`).
    """

    def include(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        if reflected and is_fulltext_object(name, kind):
            return False  # made by events, not declared (db/backends/fulltext.py)
        if not reflected:
            dialects = obj.info.get(DIALECTS) if kind == "index" else None
            return dialects is None or dialect in dialects
        if dialect not in MYSQL_DIALECTS or kind == "table":
            return True
        table = metadata.tables.get(obj.table.name)
        return table is None or name not in table.info.get(MYSQL_ONLY, ())

    return include


__all__ = [
    "DIALECTS",
    "MYSQL_DIALECTS",
    "MYSQL_ONLY",
    "PARTIAL_INDEX_DIALECTS",
    "IncludeObject",
    "enum_check",
    "one_true_per_parent",
    "position_constraints",
    "schema_filter",
]
