"""no-show reasons

One new table, nothing changed in the old ones: why a patient did not come to a visit, from the clinic's
export or the senior administrator, with who recorded it and when.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 22:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dialer.storage.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "noshow_reasons",
        sa.Column("reason_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("appointment_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reason IN ('forgot', 'ill', 'busy', 'changed_mind', 'other_clinic', 'unreached', 'rescheduled', "
            "'other')",
            name=op.f("ck_noshow_reasons_reason_known"),
        ),
        sa.CheckConstraint("source IN ('import', 'staff')", name=op.f("ck_noshow_reasons_source_known")),
        sa.PrimaryKeyConstraint("reason_id", name=op.f("pk_noshow_reasons")),
        sa.UniqueConstraint("clinic_id", "appointment_id", name="uq_noshow_reasons_visit"),
    )


def downgrade() -> None:
    op.drop_table("noshow_reasons")
