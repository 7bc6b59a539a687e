"""The Teacher answers: full-text indexes over the course material, one reply per message.

The Teacher finds the Q&A resources and units that match a student's message with the
database's own full-text search: a FULLTEXT index on MySQL/MariaDB, a GIN index on
`to_tsvector('english', ...)` on PostgreSQL, an FTS5 table kept in sync by triggers on
SQLite (filled here from the rows already there). `study_messages.in_reply_to_id` names
the student's message a reply answers; it is UNIQUE, so a reply job that runs twice
cannot write two replies. The statements are written out here, not taken from
`studyhall.db.backends.fulltext`, so this revision stays what it was if that changes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGES = "study_messages"
REPLY_COLUMN = "in_reply_to_id"
REPLY_KEY = "uq_study_messages_in_reply_to_id"
REPLY_FK = "fk_study_messages_in_reply_to_id_study_messages"
# (table, its searched columns)
SEARCHED = (("qa_resources", ("question", "answer")), ("learning_units", ("title", "content")))


def _create(dialect: str, table: str, columns: Sequence[str]) -> list[str]:
    name, listed = f"ix_{table}_fulltext", ", ".join(columns)
    if dialect in ("mysql", "mariadb"):
        return [f"CREATE FULLTEXT INDEX {name} ON {table} ({listed})"]
    if dialect == "postgresql":
        document = " || ' ' || ".join(f"coalesce({column}, '')" for column in columns)
        vector = f"to_tsvector('english'::regconfig, {document})"
        return [f"CREATE INDEX {name} ON {table} USING gin ({vector})"]
    fts = f"{table}_fts"
    new = ", ".join(f"new.{column}" for column in columns)
    old = ", ".join(f"old.{column}" for column in columns)
    # Fixed names only: no value is ever spliced into these statements.
    insert = f"INSERT INTO {fts}(rowid, {listed}) VALUES (new.id, {new});"  # noqa: S608
    remove = f"INSERT INTO {fts}({fts}, rowid, {listed}) VALUES ('delete', old.id, {old});"  # noqa: S608
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({listed}, content='{table}', "
        "content_rowid='id', tokenize='porter unicode61')",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {remove} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE ON {table} BEGIN {remove} {insert} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",  # noqa: S608 (the rows already there)
    ]


def _drop(dialect: str, table: str) -> list[str]:
    name = f"ix_{table}_fulltext"
    if dialect in ("mysql", "mariadb"):
        return [f"DROP INDEX {name} ON {table}"]
    if dialect == "postgresql":
        return [f"DROP INDEX {name}"]
    fts = f"{table}_fts"
    return [*(f"DROP TRIGGER {fts}_{when}" for when in ("ai", "ad", "au")), f"DROP TABLE {fts}"]


def upgrade() -> None:
    """Add the reply's link and its unique key, then the full-text indexes."""
    # SQLite adds a foreign key by copying the table (batch mode); the others ALTER it.
    with op.batch_alter_table(MESSAGES) as batch:
        batch.add_column(sa.Column(REPLY_COLUMN, sa.Integer(), nullable=True))
        batch.create_foreign_key(REPLY_FK, MESSAGES, [REPLY_COLUMN], ["id"], ondelete="CASCADE")
        batch.create_unique_constraint(REPLY_KEY, [REPLY_COLUMN])
    dialect = op.get_bind().dialect.name
    for table, columns in SEARCHED:
        for statement in _create(dialect, table, columns):
            op.execute(statement)


def downgrade() -> None:
    """Drop the full-text indexes, then the reply's link."""
    dialect = op.get_bind().dialect.name
    for table, _ in SEARCHED:
        for statement in _drop(dialect, table):
            op.execute(statement)
    with op.batch_alter_table(MESSAGES) as batch:
        batch.drop_constraint(REPLY_FK, type_="foreignkey")
        batch.drop_constraint(REPLY_KEY, type_="unique")
        batch.drop_column(REPLY_COLUMN)
