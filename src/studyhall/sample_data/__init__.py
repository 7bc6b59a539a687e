"""Deterministic sample data at any scale (`populate`), and what it loads (`rows`, `content`)."""

from studyhall.sample_data.load import (
    DEMO_LOGINS,
    DEMO_PASSWORD,
    Progress,
    SampleDataSummary,
    planned_rows,
    populate,
)

__all__ = [
    "DEMO_LOGINS",
    "DEMO_PASSWORD",
    "Progress",
    "SampleDataSummary",
    "planned_rows",
    "populate",
]
