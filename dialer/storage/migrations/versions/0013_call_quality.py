"""call quality: recordings, scorecards, the skill of the week, complaints

Four new tables, nothing changed in the old ones: the conversations Asterisk recorded, the supervisors'
scorecards of calls, the «навык недели» per administrator and week, and complaints marked in the wrap-up.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 19:17:33.320222
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dialer.storage.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_scores",
        sa.Column("score_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("scored_by", sa.Integer(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("scored_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("score_id", name=op.f("pk_call_scores")),
        sa.UniqueConstraint("contact_id", name="uq_call_scores_contact"),
    )
    with op.batch_alter_table("call_scores", schema=None) as batch_op:
        batch_op.create_index("ix_call_scores_week", ["clinic_id", "user_id", "scored_at"], unique=False)

    op.create_table(
        "complaints",
        sa.Column("complaint_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("complaint_class", sa.String(length=1), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("alerted_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "complaint_class IN ('A', 'B', 'C')", name=op.f("ck_complaints_complaint_class_known")
        ),
        sa.PrimaryKeyConstraint("complaint_id", name=op.f("pk_complaints")),
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index("ix_complaints_day", ["clinic_id", "created_at"], unique=False)

    op.create_table(
        "recordings",
        sa.Column("recording_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("call_ref", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("member", sa.String(length=80), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("bytes", sa.Integer(), nullable=True),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("started_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("recording_id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("call_ref", "member", "started_at", name="uq_recordings_call"),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index("ix_recordings_call", ["call_ref"], unique=False)
        batch_op.create_index("ix_recordings_day", ["clinic_id", "started_at"], unique=False)

    op.create_table(
        "weekly_skills",
        sa.Column("skill_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("skill", sa.String(length=200), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("set_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("skill_id", name=op.f("pk_weekly_skills")),
        sa.UniqueConstraint("clinic_id", "user_id", "week_start", name="uq_weekly_skills_week"),
    )


def downgrade() -> None:
    op.drop_table("weekly_skills")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_day")
        batch_op.drop_index("ix_recordings_call")

    op.drop_table("recordings")
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index("ix_complaints_day")

    op.drop_table("complaints")
    with op.batch_alter_table("call_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_call_scores_week")

    op.drop_table("call_scores")
