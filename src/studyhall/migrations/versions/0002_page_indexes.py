"""Indexes for bounded pages: a student's history in keyset pages, and a school's counts.

`study_sessions(student_id, created_at DESC, id DESC)` serves the history's ORDER BY
created_at DESC, id DESC read forwards (MariaDB < 10.8 ignores DESC); the three others
let the counts by role / status read an index instead of the rows. Written by hand;
tests/migrations checks it against the models on every backend.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 16:40:00

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, table, columns), created in this order and dropped in the reverse one.
INDEXES: tuple[tuple[str, str, list[Any]], ...] = (
    (
        "ix_study_sessions_student_id_created_at",
        "study_sessions",
        ["student_id", sa.desc(sa.column("created_at")), sa.desc(sa.column("id"))],
    ),
    (
        "ix_study_sessions_learning_unit_id_status",
        "study_sessions",
        ["learning_unit_id", "status"],
    ),
    ("ix_users_school_class_id_role", "users", ["school_class_id", "role"]),
    ("ix_enrollments_course_id_status", "enrollments", ["course_id", "status"]),
)


def upgrade() -> None:
    """Create the four indexes."""
    for name, table, columns in INDEXES:
        op.create_index(op.f(name), table, columns, unique=False)


def downgrade() -> None:
    """Drop the four indexes."""
    for name, table, _ in reversed(INDEXES):
        op.drop_index(op.f(name), table_name=table)
