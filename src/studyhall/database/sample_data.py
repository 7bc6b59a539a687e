"""The sample data (the seed's module; the implementation is `studyhall.sample_data`)."""

from studyhall.sample_data import (
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
