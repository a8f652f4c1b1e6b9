"""lease generation

The dialing lease carries a generation, raised at every takeover: the fencing token that the leader's new
attempts are written under, so that a node whose lease was taken cannot start a call any more.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 01:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generation", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.drop_column("generation")
