"""user clinics: which clinics each user works for, several allowed

users.clinic_id held one clinic (or "*", every clinic) and nothing read it. It moves to user_clinics, one row per
clinic; "*" stays the mark for every clinic.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_clinics",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"], name=op.f("fk_user_clinics_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "clinic_id", name=op.f("pk_user_clinics")),
    )
    op.execute(
        "INSERT INTO user_clinics (user_id, clinic_id) "
        "SELECT user_id, CASE WHEN clinic_id = '' THEN '*' ELSE clinic_id END FROM users"
    )
    # SQLite 3.35+ and PostgreSQL drop a plain column in place (no table copy, so sessions keep their key).
    op.drop_column("users", "clinic_id")


def downgrade() -> None:
    op.add_column("users", sa.Column("clinic_id", sa.String(length=64), nullable=False, server_default="*"))
    # One column holds one clinic: a user of several keeps the first (fewer rights, never more).
    op.execute(
        "UPDATE users SET clinic_id = COALESCE("
        "(SELECT MIN(clinic_id) FROM user_clinics WHERE user_clinics.user_id = users.user_id), '')"
    )
    op.drop_table("user_clinics")
