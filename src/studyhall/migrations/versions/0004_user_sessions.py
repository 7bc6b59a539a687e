"""Server-side login sessions (`user_sessions`), so that a session can be revoked.

The web app's cookie used to be the whole session: signed, stateless, and valid after
logout for as long as anyone kept a copy. Each login now writes a row keyed by the
SHA-256 of the cookie's random token; every request checks the row, and logout, "sign out
everywhere", a password change and a deactivation revoke it. `user_id` is indexed for
revoking a user's sessions, `expires_at` for the clean-up. A new table only: cookies
issued before this revision carry no token and are signed out once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 23:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "user_sessions"
INDEXES = (
    ("ix_user_sessions_user_id", ["user_id"]),
    ("ix_user_sessions_expires_at", ["expires_at"]),
)


def upgrade() -> None:
    """Create the table and its two indexes."""
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("address", sa.String(length=45), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
    )
    for name, columns in INDEXES:
        op.create_index(op.f(name), TABLE, columns, unique=False)


def downgrade() -> None:
    """Drop the table (its indexes go with it)."""
    op.drop_table(TABLE)
