"""the reminder funnel and the day's visits, answered from indexes

The board counts tomorrow's visits by reminder status, then the calls and SMS of their reminder targets, every
second it is watched; the daily report counts the day's visits known to have been attended or missed. Each of
those reads fetched one table row per visit, call or message for a column its index did not carry. The visits'
index now carries the reminder status and the attendance, the attempts get an index by target that carries the
state and the result, and the SMS index by target carries the status, so SQLite and PostgreSQL answer these
reads from the indexes alone. Each index still serves every read that used it before (the same leading
columns), and uq_attempts_target_n keeps serving the lookups by target and number.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 00:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_VISITS = ["clinic_id", "visit_day", "appointment_id", "patient_id"]


def upgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_appointments_visits")
        batch_op.create_index(
            "ix_appointments_visits", [*_VISITS, "reminder_status", "attended"], unique=False
        )

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index("ix_attempts_target_state", ["target_id", "state", "result"], unique=False)

    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_messages_target")
        batch_op.create_index("ix_sms_messages_target", ["target_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_messages_target")
        batch_op.create_index("ix_sms_messages_target", ["target_id"], unique=False)

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_target_state")

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_appointments_visits")
        batch_op.create_index("ix_appointments_visits", _VISITS, unique=False)
