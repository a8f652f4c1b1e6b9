"""recalls (KOS), webhook outbox, IVR feedback, waiting-list offers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 10:52:09.663341
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dialer.storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("feedback_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("appointment_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("digit", sa.String(length=1), nullable=False),
        sa.Column("attempt_id", sa.String(length=100), nullable=False),
        sa.Column("at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("feedback_id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_feedback_attempt_id")),
    )
    op.create_table(
        "offers",
        sa.Column("offer_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("appointment_id", sa.String(length=64), nullable=False),
        sa.Column("doctor", sa.String(length=200), nullable=False),
        sa.Column("slot_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sms_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_offers")),
        sa.UniqueConstraint("appointment_id", "entry_id", name="uq_offers_slot_entry"),
    )
    op.create_table(
        "recalls",
        sa.Column("recall_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("patient_name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("doctor", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("target_day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("status_comment", sa.Text(), nullable=False),
        sa.Column("moves", sa.Integer(), nullable=False),
        sa.Column("booked_day", sa.Date(), nullable=True),
        sa.Column("planned", sa.Boolean(), nullable=False),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("recall_id", name=op.f("pk_recalls")),
        sa.UniqueConstraint("clinic_id", "external_id", name="uq_recalls_external"),
    )
    with op.batch_alter_table("recalls", schema=None) as batch_op:
        batch_op.create_index("ix_recalls_due", ["clinic_id", "status", "target_day"], unique=False)

    op.create_table(
        "webhook_outbox",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("event_key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_webhook_outbox")),
        sa.UniqueConstraint("event_key", name=op.f("uq_webhook_outbox_event_key")),
    )
    with op.batch_alter_table("webhook_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_outbox_due", ["delivered_at", "next_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_outbox_due")

    op.drop_table("webhook_outbox")
    with op.batch_alter_table("recalls", schema=None) as batch_op:
        batch_op.drop_index("ix_recalls_due")

    op.drop_table("recalls")
    op.drop_table("offers")
    op.drop_table("feedback")
