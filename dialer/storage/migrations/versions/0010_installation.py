"""the installation's own id

Made once per database and put in front of every attempt id (the Asterisk Uniqueid of the call, the dialplan's
AstDB keys and UserEvents), so that several installations, or staging beside production, can share one PBX
without taking each other's calls.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dialer.storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "installation",
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("slot = 1", name=op.f("ck_installation_one_row")),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_installation")),
    )


def downgrade() -> None:
    op.drop_table("installation")
