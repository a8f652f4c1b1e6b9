"""indexes for the caller's card

The card looks a number up in every clinic (one Asterisk may serve several): by phone alone in patients, callback
tasks, contacts, the waiting list, the diary and recalls; and the patient's next visits by patient.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 13:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.create_index("ix_patients_phone_any", ["phone"], unique=False)

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index("ix_appointments_patient", ["patient_id", "visit_at"], unique=False)

    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_callback_tasks_phone", ["phone", "state"], unique=False)

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_phone_at", ["phone", "created_at"], unique=False)

    with op.batch_alter_table("waiting_list", schema=None) as batch_op:
        batch_op.create_index("ix_waiting_list_phone", ["phone"], unique=False)

    with op.batch_alter_table("diary", schema=None) as batch_op:
        batch_op.create_index("ix_diary_phone", ["phone"], unique=False)

    with op.batch_alter_table("recalls", schema=None) as batch_op:
        batch_op.create_index("ix_recalls_phone", ["phone", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recalls", schema=None) as batch_op:
        batch_op.drop_index("ix_recalls_phone")

    with op.batch_alter_table("diary", schema=None) as batch_op:
        batch_op.drop_index("ix_diary_phone")

    with op.batch_alter_table("waiting_list", schema=None) as batch_op:
        batch_op.drop_index("ix_waiting_list_phone")

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_phone_at")

    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_tasks_phone")

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_appointments_patient")

    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_index("ix_patients_phone_any")
