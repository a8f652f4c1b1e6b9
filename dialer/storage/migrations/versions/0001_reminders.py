"""reminders: clinics, patients, appointments, targets, attempts, due tasks, sms, leases

Revision ID: 0001
Revises:
Create Date: 2026-11-25 09:07:08.571433
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dialer.storage.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_tasks",
        sa.Column("task_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_admin_tasks")),
        sa.UniqueConstraint("clinic_id", "kind", "subject_id", "source", name="uq_admin_tasks_source"),
    )
    op.create_table(
        "ami_gaps",
        sa.Column("gap_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("gap_id", name=op.f("pk_ami_gaps")),
    )
    op.create_table(
        "appointments",
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("appointment_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("visit_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("visit_day", sa.Date(), nullable=False),
        sa.Column("doctor", sa.String(length=200), nullable=False),
        sa.Column("specialty", sa.String(length=200), nullable=False),
        sa.Column("high_value", sa.Boolean(), nullable=False),
        sa.Column("reminder_status", sa.String(length=32), nullable=False),
        sa.Column("reminder_digit", sa.String(length=1), nullable=True),
        sa.Column("imported_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("clinic_id", "appointment_id", name=op.f("pk_appointments")),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index("ix_appointments_day", ["clinic_id", "visit_day"], unique=False)

    op.create_table(
        "attempt_events",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("attempt_id", sa.String(length=100), nullable=False),
        sa.Column("at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("uniqueid", sa.String(length=100), nullable=True),
        sa.Column("linkedid", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.Integer(), nullable=True),
        sa.Column("cause", sa.Integer(), nullable=True),
        sa.Column("digit", sa.String(length=1), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_attempt_events")),
    )
    with op.batch_alter_table("attempt_events", schema=None) as batch_op:
        batch_op.create_index("ix_attempt_events_attempt", ["attempt_id"], unique=False)

    op.create_table(
        "clinics",
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("updated_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("clinic_id", name=op.f("pk_clinics")),
    )
    op.create_table(
        "due_tasks",
        sa.Column("task_id", sa.String(length=120), nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("campaign", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("due_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_due_tasks")),
    )
    with op.batch_alter_table("due_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_due_tasks_due", ["state", "due_at"], unique=False)

    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "patients",
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("consent_call", sa.Boolean(), nullable=False),
        sa.Column("consent_sms", sa.Boolean(), nullable=False),
        sa.Column("do_not_call", sa.Boolean(), nullable=False),
        sa.Column("updated_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("clinic_id", "patient_id", name=op.f("pk_patients")),
    )
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.create_index("ix_patients_phone", ["clinic_id", "phone"], unique=False)

    op.create_table(
        "sms_events",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("sms_key", sa.String(length=120), nullable=False),
        sa.Column("at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_sms_events")),
    )
    op.create_table(
        "sms_messages",
        sa.Column("sms_key", sa.String(length=120), nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sms_key", name=op.f("pk_sms_messages")),
    )
    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.create_index("ix_sms_provider_id", ["provider", "provider_id"], unique=False)

    op.create_table(
        "targets",
        sa.Column("target_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("campaign", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stop_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("target_id", name=op.f("pk_targets")),
        sa.UniqueConstraint("clinic_id", "campaign", "subject_id", name="uq_targets_subject"),
    )
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.create_index("ix_targets_state", ["campaign", "state"], unique=False)

    op.create_table(
        "attempts",
        sa.Column("attempt_id", sa.String(length=100), nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("trunk", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Integer(), nullable=True),
        sa.Column("cause", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("digit", sa.String(length=1), nullable=True),
        sa.Column("settled", sa.String(length=16), nullable=True),
        sa.Column("linkedid", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.target_id"], name=op.f("fk_attempts_target_id_targets")
        ),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_attempts")),
        sa.UniqueConstraint("target_id", "n", name="uq_attempts_target_n"),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index("ix_attempts_state", ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_state")

    op.drop_table("attempts")
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_index("ix_targets_state")

    op.drop_table("targets")
    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_provider_id")

    op.drop_table("sms_messages")
    op.drop_table("sms_events")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index("ix_patients_phone")

    op.drop_table("patients")
    op.drop_table("leases")
    with op.batch_alter_table("due_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_due_tasks_due")

    op.drop_table("due_tasks")
    op.drop_table("clinics")
    with op.batch_alter_table("attempt_events", schema=None) as batch_op:
        batch_op.drop_index("ix_attempt_events_attempt")

    op.drop_table("attempt_events")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_appointments_day")

    op.drop_table("appointments")
    op.drop_table("ami_gaps")
    op.drop_table("admin_tasks")
