"""Indexes in the order of two paged lists: a school's roster and a session's messages.

`users(school_class_id, last_name, first_name, id)`: the manager's roster (WHERE
school_class_id IN (the school's classes) ORDER BY school_class_id, last_name,
first_name, id) reads a page's rows in index order on every backend instead of sorting
the whole school (MariaDB 10.11, 6,000 students: 0.09 ms instead of 6.3 ms). The counts
keep `users(school_class_id, role)` (revision 0002), which they read alone.

`study_messages(study_session_id, id)` replaces `study_messages(study_session_id)`: the
newest messages of a session, ORDER BY id DESC, are its last entries. MariaDB and SQLite
already had that order (their indexes end with the row id); PostgreSQL 15 walked the
primary key backwards past other sessions' messages (2.7 ms for 50,000 of them) or
sorted all of this one's. It is made before the old one goes, so the foreign key always
has an index (MariaDB requires one).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 23:40:00

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROSTER = ("ix_users_school_class_id_last_name", "users")
ROSTER_COLUMNS = ["school_class_id", "last_name", "first_name", "id"]
MESSAGES = ("ix_study_messages_study_session_id_id", "study_messages")
MESSAGES_COLUMNS = ["study_session_id", "id"]
OLD_MESSAGES = ("ix_study_messages_study_session_id", "study_messages")


def upgrade() -> None:
    """Create the roster's index; replace the messages' index by one ending with the id."""
    op.create_index(op.f(ROSTER[0]), ROSTER[1], ROSTER_COLUMNS, unique=False)
    op.create_index(op.f(MESSAGES[0]), MESSAGES[1], MESSAGES_COLUMNS, unique=False)
    op.drop_index(op.f(OLD_MESSAGES[0]), table_name=OLD_MESSAGES[1])


def downgrade() -> None:
    """Bring back the messages' old index before dropping the new ones."""
    op.create_index(op.f(OLD_MESSAGES[0]), OLD_MESSAGES[1], ["study_session_id"], unique=False)
    op.drop_index(op.f(MESSAGES[0]), table_name=MESSAGES[1])
    op.drop_index(op.f(ROSTER[0]), table_name=ROSTER[1])
