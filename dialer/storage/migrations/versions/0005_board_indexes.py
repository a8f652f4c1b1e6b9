"""indexes for the supervisor's board and daily report

The board's reminder funnel is driven from the day's visits (ix_appointments_visits replaces ix_appointments_day,
whose columns it starts with); SMS by target; the report's confirmations by the clinic's attempts ended that day;
the day's callback tasks by starts_at.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_appointments_visits", ["clinic_id", "visit_day", "appointment_id", "patient_id"], unique=False
        )
        batch_op.drop_index("ix_appointments_day")

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index("ix_attempts_ended", ["clinic_id", "ended_at"], unique=False)

    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.create_index("ix_sms_messages_target", ["target_id"], unique=False)

    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_callback_tasks_day", ["clinic_id", "starts_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_tasks_day")

    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_messages_target")

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_ended")

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index("ix_appointments_day", ["clinic_id", "visit_day"], unique=False)
        batch_op.drop_index("ix_appointments_visits")
