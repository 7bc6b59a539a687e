"""A change that applies only while a condition holds, then the row read fresh.

Services use it where a check and a write must not be split by another transaction: the
UPDATE's WHERE is the check, and on MariaDB and PostgreSQL it also locks the row, so
concurrent callers queue on it and each sees the state the one before it left.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, update

from studyhall.db.transaction import get_current_session
from studyhall.models import Base

M = TypeVar("M", bound=Base)


def guarded_update(
    model: type[M], ident: int, condition: ColumnElement[bool], **values: Any
) -> tuple[M | None, bool]:
    """UPDATE row `ident` of `model` with `values` where `condition` holds; return the row
    read fresh (None when there is no such row) and whether the update applied.

    Requires an active session. An onupdate column (e.g. `updated_at`) is written too, so
    even empty `values` write and lock the row.
    """
    session = get_current_session()
    key = getattr(model, "id")  # noqa: B009 (every studyhall model's primary key)
    result = session.execute(
        update(model)
        .where(key == ident, condition)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    row = session.get(model, ident, populate_existing=True)
    # A DML statement's result is a CursorResult; SQLAlchemy 2.0.41 types it so, later
    # releases as Result, which has no rowcount: the ignore is needed on those only.
    return row, result.rowcount == 1  # type: ignore[attr-defined, unused-ignore]


__all__ = ["guarded_update"]
