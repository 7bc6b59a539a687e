"""Initial schema: every table of the studyhall models.

Generated with `alembic revision --autogenerate` against an empty PostgreSQL database,
then reviewed; tests/migrations checks it against the models on every backend.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 22:19:31.608678

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create every table with its constraints and indexes."""
    op.create_table(
        "ai_agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_type", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "agent_type IN ('teacher', 'evaluator')", name=op.f("ck_ai_agents_agent_type_valid")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_agents")),
        sa.UniqueConstraint("name", name=op.f("uq_ai_agents_name")),
    )
    op.create_index(
        op.f("ix_ai_agents_agent_type"), "ai_agents", ["agent_type", "is_active"], unique=False
    )
    op.create_table(
        "schools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schools")),
        sa.UniqueConstraint("name", name=op.f("uq_schools_name")),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
        sa.UniqueConstraint("name", name=op.f("uq_subjects_name")),
    )
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("grade_level", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "grade_level BETWEEN 0 AND 13", name=op.f("ck_courses_grade_level_range")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name=op.f("fk_courses_school_id_schools"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_courses_subject_id_subjects"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
        sa.UniqueConstraint("school_id", "name", name=op.f("uq_courses_school_id_name")),
    )
    op.create_index(op.f("ix_courses_grade_level"), "courses", ["grade_level"], unique=False)
    op.create_index(op.f("ix_courses_subject_id"), "courses", ["subject_id"], unique=False)
    op.create_table(
        "school_classes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("grade_level", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "grade_level BETWEEN 0 AND 13", name=op.f("ck_school_classes_grade_level_range")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name=op.f("fk_school_classes_school_id_schools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_school_classes")),
        sa.UniqueConstraint("school_id", "name", name=op.f("uq_school_classes_school_id_name")),
    )
    op.create_table(
        "learning_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.CheckConstraint("position >= 1", name=op.f("ck_learning_units_position_positive")),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_learning_units_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_units")),
        sa.UniqueConstraint(
            "course_id", "position", name=op.f("uq_learning_units_course_id_position")
        ),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("school_class_id", sa.Integer(), nullable=True),
        sa.Column("managed_school_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "role IN ('student', 'parent', 'manager')", name=op.f("ck_users_role_valid")
        ),
        sa.ForeignKeyConstraint(
            ["managed_school_id"],
            ["schools.id"],
            name=op.f("fk_users_managed_school_id_schools"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["school_class_id"],
            ["school_classes.id"],
            name=op.f("fk_users_school_class_id_school_classes"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(
        op.f("ix_users_managed_school_id"), "users", ["managed_school_id"], unique=False
    )
    op.create_index(op.f("ix_users_school_class_id"), "users", ["school_class_id"], unique=False)
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learning_unit_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learning_unit_id"],
            ["learning_units.id"],
            name=op.f("fk_assessments_learning_unit_id_learning_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
    )
    op.create_index(
        op.f("ix_assessments_learning_unit_id"), "assessments", ["learning_unit_id"], unique=False
    )
    op.create_table(
        "enrollments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'completed', 'dropped')",
            name=op.f("ck_enrollments_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_enrollments_course_id_courses"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["users.id"],
            name=op.f("fk_enrollments_student_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollments")),
        sa.UniqueConstraint(
            "student_id", "course_id", name=op.f("uq_enrollments_student_id_course_id")
        ),
    )
    op.create_index(op.f("ix_enrollments_course_id"), "enrollments", ["course_id"], unique=False)
    op.create_table(
        "parent_students",
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["users.id"],
            name=op.f("fk_parent_students_parent_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["users.id"],
            name=op.f("fk_parent_students_student_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("parent_id", "student_id", name=op.f("pk_parent_students")),
    )
    op.create_index(
        op.f("ix_parent_students_student_id"), "parent_students", ["student_id"], unique=False
    )
    op.create_table(
        "qa_resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learning_unit_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("difficulty", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "difficulty IN ('easy', 'medium', 'hard')",
            name=op.f("ck_qa_resources_difficulty_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["learning_unit_id"],
            ["learning_units.id"],
            name=op.f("fk_qa_resources_learning_unit_id_learning_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_resources")),
    )
    op.create_index(
        op.f("ix_qa_resources_learning_unit_id"),
        "qa_resources",
        ["learning_unit_id", "difficulty"],
        unique=False,
    )
    op.create_table(
        "study_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("learning_unit_id", sa.Integer(), nullable=False),
        sa.Column("teacher_agent_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("active_student_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "(status = 'active' AND active_student_id IS NOT NULL"
            " AND active_student_id = student_id)"
            " OR (status <> 'active' AND active_student_id IS NULL)",
            name=op.f("ck_study_sessions_active_student_matches_status"),
        ),
        sa.CheckConstraint("kind IN ('home_hours')", name=op.f("ck_study_sessions_kind_valid")),
        sa.CheckConstraint(
            "status IN ('planned', 'active', 'completed', 'cancelled')",
            name=op.f("ck_study_sessions_status_valid"),
        ),
        sa.CheckConstraint(
            "duration_seconds IS NULL OR duration_seconds >= 0",
            name=op.f("ck_study_sessions_duration_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["learning_unit_id"],
            ["learning_units.id"],
            name=op.f("fk_study_sessions_learning_unit_id_learning_units"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["users.id"],
            name=op.f("fk_study_sessions_student_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["teacher_agent_id"],
            ["ai_agents.id"],
            name=op.f("fk_study_sessions_teacher_agent_id_ai_agents"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_sessions")),
        sa.UniqueConstraint("active_student_id", name=op.f("uq_study_sessions_active_student_id")),
    )
    op.create_index(
        op.f("ix_study_sessions_learning_unit_id"),
        "study_sessions",
        ["learning_unit_id"],
        unique=False,
    )
    op.create_index(op.f("ix_study_sessions_status"), "study_sessions", ["status"], unique=False)
    op.create_index(
        op.f("ix_study_sessions_student_id"), "study_sessions", ["student_id"], unique=False
    )
    op.create_index(
        op.f("ix_study_sessions_teacher_agent_id"),
        "study_sessions",
        ["teacher_agent_id"],
        unique=False,
    )
    op.create_table(
        "assessment_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "position >= 1", name=op.f("ck_assessment_questions_position_positive")
        ),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name=op.f("fk_assessment_questions_assessment_id_assessments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_questions")),
        sa.UniqueConstraint(
            "assessment_id",
            "position",
            name=op.f("uq_assessment_questions_assessment_id_position"),
        ),
    )
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_session_id", sa.Integer(), nullable=False),
        sa.Column("evaluator_agent_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("score BETWEEN 0 AND 100", name=op.f("ck_evaluations_score_range")),
        sa.ForeignKeyConstraint(
            ["evaluator_agent_id"],
            ["ai_agents.id"],
            name=op.f("fk_evaluations_evaluator_agent_id_ai_agents"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["study_session_id"],
            ["study_sessions.id"],
            name=op.f("fk_evaluations_study_session_id_study_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
        sa.UniqueConstraint("study_session_id", name=op.f("uq_evaluations_study_session_id")),
    )
    op.create_index(
        op.f("ix_evaluations_evaluator_agent_id"),
        "evaluations",
        ["evaluator_agent_id"],
        unique=False,
    )
    op.create_table(
        "study_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_session_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "role IN ('student', 'teacher')", name=op.f("ck_study_messages_role_valid")
        ),
        sa.ForeignKeyConstraint(
            ["study_session_id"],
            ["study_sessions.id"],
            name=op.f("fk_study_messages_study_session_id_study_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_messages")),
    )
    op.create_index(
        op.f("ix_study_messages_study_session_id"),
        "study_messages",
        ["study_session_id"],
        unique=False,
    )
    op.create_table(
        "assessment_choices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("is_correct", sa.Boolean(), nullable=False),
        sa.CheckConstraint("position >= 1", name=op.f("ck_assessment_choices_position_positive")),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["assessment_questions.id"],
            name=op.f("fk_assessment_choices_question_id_assessment_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_choices")),
        sa.UniqueConstraint(
            "question_id", "position", name=op.f("uq_assessment_choices_question_id_position")
        ),
    )


def downgrade() -> None:
    """Drop every table, dependents first. Dropping a table drops its indexes; dropping
    those one by one first fails on MySQL/MariaDB for an index a foreign key needs."""
    op.drop_table("assessment_choices")
    op.drop_table("study_messages")
    op.drop_table("evaluations")
    op.drop_table("assessment_questions")
    op.drop_table("study_sessions")
    op.drop_table("qa_resources")
    op.drop_table("parent_students")
    op.drop_table("enrollments")
    op.drop_table("assessments")
    op.drop_table("users")
    op.drop_table("learning_units")
    op.drop_table("school_classes")
    op.drop_table("courses")
    op.drop_table("subjects")
    op.drop_table("schools")
    op.drop_table("ai_agents")
