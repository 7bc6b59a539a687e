"""What the database holds: the row count of every studyhall table."""

from __future__ import annotations

from sqlalchemy import func, inspect, select

from studyhall.db.engine import Database
from studyhall.models import Base


def row_counts(database: Database) -> dict[str, int | None]:
    """Rows per studyhall table, in foreign-key order; None for a table that is missing."""
    counts: dict[str, int | None] = {}
    with database.engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        for table in Base.metadata.sorted_tables:
            if table.name not in present:
                counts[table.name] = None
                continue
            counts[table.name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
    return counts


__all__ = ["row_counts"]
