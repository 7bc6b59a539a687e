"""Deterministic sample data (built by the sample-data work; see issue 4)."""

from __future__ import annotations

from typing import Any

from studyhall.database.engine import Database
from studyhall.database.errors import NotAvailableError


def populate(database: Database, *, clear_existing: bool = False, scale: int = 1) -> Any:
    """Load the sample data. Not built yet: raises NotAvailableError."""
    raise NotAvailableError(
        "Sample data is not available in this version of studyhall yet. Create the tables "
        "with `studyhall-db init` and add rows yourself."
    )
