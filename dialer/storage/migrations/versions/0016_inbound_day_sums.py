"""the day's inbound calls, covering the board's sums

The board adds up a clinic's calls of the day by hour every second it is watched. The day index now carries
every column that sum reads (answered_at, waited, hidden), so both SQLite and PostgreSQL answer it from the
index alone instead of fetching each call's row; it still serves every read by clinic and start, as before.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 02:50:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_calls_day")
        batch_op.create_index(
            "ix_inbound_calls_day",
            ["clinic_id", "started_at", "answered_at", "waited", "hidden"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_calls_day")
        batch_op.create_index("ix_inbound_calls_day", ["clinic_id", "started_at"], unique=False)
