"""missed calls: inbound calls, callback tasks, alerts, marks, attempt leg status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:08:49.728700
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dialer.storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("raised_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_open", ["clinic_id", "kind", "cleared_at"], unique=False)

    op.create_table(
        "callback_tasks",
        sa.Column("task_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("missed_count", sa.Integer(), nullable=False),
        sa.Column("first_call_id", sa.String(length=100), nullable=False),
        sa.Column("first_missed_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_missed_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("starts_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("after_hours", sa.Boolean(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("first_attempt_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("contacted_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_callback_tasks")),
    )
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_callback_tasks_open", ["clinic_id", "phone", "state"], unique=False)

    op.create_table(
        "inbound_calls",
        sa.Column("call_id", sa.String(length=100), nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("did", sa.String(length=40), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("caller", sa.String(length=20), nullable=False),
        sa.Column("queue_channel", sa.String(length=100), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("started_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("waited", sa.Float(), nullable=False),
        sa.Column("answered_by", sa.String(length=200), nullable=False),
        sa.Column("miss_reason", sa.String(length=32), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_inbound_calls")),
    )
    with op.batch_alter_table("inbound_calls", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_calls_day", ["clinic_id", "started_at"], unique=False)

    op.create_table(
        "marks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_marks")),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("leg_status", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("leg_status")

    op.drop_table("marks")
    with op.batch_alter_table("inbound_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_calls_day")

    op.drop_table("inbound_calls")
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_tasks_open")

    op.drop_table("callback_tasks")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_open")

    op.drop_table("alerts")
