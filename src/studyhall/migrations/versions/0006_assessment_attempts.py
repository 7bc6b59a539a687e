"""Tests the student takes: `assessment_attempts` and `attempt_answers`; one correct
choice per question, kept by the database.

A question's second correct choice becomes an IntegrityError on every backend: a
partial unique index (WHERE is_correct) on PostgreSQL and SQLite; on MySQL/MariaDB,
which have no partial index, a virtual generated column `correct_key` (the question where
the choice is correct, NULL elsewhere) with a unique key of the same name. An answer's
(question_id, choice_id) refers to a choice's (question_id, id), newly unique, so an
answer's choice is one of its question's. The upgrade fails, changing nothing on
PostgreSQL and SQLite, if a question already has two correct choices: fix those first.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 03:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHOICES = "assessment_choices"
ONE_CORRECT = "uq_assessment_choices_one_correct"
CORRECT_KEY = "correct_key"


def _is_mysql() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade() -> None:
    """Constrain the choices, then create the two tables and their indexes."""
    op.create_index(
        op.f("uq_assessment_choices_question_id_id"), CHOICES, ["question_id", "id"], unique=True
    )
    if _is_mysql():
        op.execute(
            f"ALTER TABLE {CHOICES} ADD COLUMN {CORRECT_KEY} INTEGER"
            " AS (CASE WHEN is_correct THEN question_id END) VIRTUAL,"
            f" ADD CONSTRAINT {ONE_CORRECT} UNIQUE ({CORRECT_KEY})"
        )
    else:
        op.create_index(
            ONE_CORRECT,
            CHOICES,
            ["question_id"],
            unique=True,
            postgresql_where=sa.text("is_correct"),
            sqlite_where=sa.text("is_correct"),
        )
    op.create_table(
        "assessment_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("study_session_id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("correct_count", sa.Integer(), nullable=True),
        sa.Column("question_count", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(submitted_at IS NULL AND correct_count IS NULL AND question_count IS NULL)"
            " OR (submitted_at IS NOT NULL AND correct_count IS NOT NULL"
            " AND question_count IS NOT NULL)",
            name=op.f("ck_assessment_attempts_counts_when_submitted"),
        ),
        sa.CheckConstraint(
            "correct_count >= 0 AND correct_count <= question_count",
            name=op.f("ck_assessment_attempts_counts_range"),
        ),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name=op.f("fk_assessment_attempts_assessment_id_assessments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["users.id"],
            name=op.f("fk_assessment_attempts_student_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["study_session_id"],
            ["study_sessions.id"],
            name=op.f("fk_assessment_attempts_study_session_id_study_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_attempts")),
    )
    op.create_index(
        op.f("ix_assessment_attempts_assessment_id"), "assessment_attempts", ["assessment_id"]
    )
    op.create_index(
        op.f("ix_assessment_attempts_student_id"), "assessment_attempts", ["student_id"]
    )
    op.create_index(
        op.f("uq_assessment_attempts_study_session_id_assessment_id"),
        "assessment_attempts",
        ["study_session_id", "assessment_id"],
        unique=True,
    )
    op.create_table(
        "attempt_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("choice_id", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["assessment_attempts.id"],
            name=op.f("fk_attempt_answers_attempt_id_assessment_attempts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id", "choice_id"],
            ["assessment_choices.question_id", "assessment_choices.id"],
            name=op.f("fk_attempt_answers_question_id_assessment_choices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["assessment_questions.id"],
            name=op.f("fk_attempt_answers_question_id_assessment_questions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempt_answers")),
    )
    op.create_index(
        op.f("ix_attempt_answers_question_id_choice_id"),
        "attempt_answers",
        ["question_id", "choice_id"],
    )
    op.create_index(
        op.f("uq_attempt_answers_attempt_id_question_id"),
        "attempt_answers",
        ["attempt_id", "question_id"],
        unique=True,
    )


def downgrade() -> None:
    """Drop the two tables (their indexes go with them) and the choices' constraints."""
    op.drop_table("attempt_answers")
    op.drop_table("assessment_attempts")
    if _is_mysql():
        op.execute(f"ALTER TABLE {CHOICES} DROP INDEX {ONE_CORRECT}, DROP COLUMN {CORRECT_KEY}")
    else:
        op.drop_index(ONE_CORRECT, table_name=CHOICES)
    op.drop_index(op.f("uq_assessment_choices_question_id_id"), table_name=CHOICES)
