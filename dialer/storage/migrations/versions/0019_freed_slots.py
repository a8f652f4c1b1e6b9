"""freed slots kept until the waiting list has them

A visit cancelled on a reminder call is now also written to `freed_slots`, in the same transaction as the
cancellation, and so is the slot of an offer declined or expired, with the offer's end; each is removed in the
transaction that hands the slot to the waiting list. A stop between the two (the offers wait behind a slow SMS
gateway) leaves the slot there, and the next start offers it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dialer.storage.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "freed_slots",
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("appointment_id", sa.String(length=64), nullable=False),
        sa.Column("freed_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("clinic_id", "appointment_id"),
    )


def downgrade() -> None:
    op.drop_table("freed_slots")
