"""Background jobs (`jobs`): a job queue in the database.

Work that must happen after a unit of work (a Teacher's reply, a session's evaluation,
closing idle sessions) is a row written in that unit, so it exists if and only if the
unit commits. Workers claim due rows with a lease; `ix_jobs_status_run_after` serves the
claim, the unique `ix_jobs_dedupe_key` makes a key enqueue at most one job. Timestamps
keep microseconds on MySQL/MariaDB (DATETIME(6)). A new table only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 02:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "jobs"
# SQLAlchemy 2.0 types mysql.DATETIME's constructor as untyped; 2.1 types it.
_DATETIME_FSP6 = mysql.DATETIME(fsp=6)  # type: ignore[no-untyped-call, unused-ignore]
TIMESTAMP = sa.DateTime().with_variant(_DATETIME_FSP6, "mysql", "mariadb")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the table and its two indexes."""
    op.create_table(
        TABLE,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", TIMESTAMP, nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_status_run_after"), TABLE, ["status", "run_after"])
    op.create_index(op.f("ix_jobs_dedupe_key"), TABLE, ["dedupe_key"], unique=True)


def downgrade() -> None:
    """Drop the table (its indexes go with it)."""
    op.drop_table(TABLE)
