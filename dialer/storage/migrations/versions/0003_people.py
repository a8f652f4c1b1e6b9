"""people: users, sessions, contacts, waiting list, diary, wrap-ups, attendance

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:41:26.784011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dialer.storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("contact_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("flags", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("call_ref", sa.String(length=100), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("follow_up", sa.Date(), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        sa.Column("wrap_seconds", sa.Float(), nullable=True),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_day", ["clinic_id", "created_at"], unique=False)
        batch_op.create_index("ix_contacts_phone", ["clinic_id", "phone"], unique=False)

    op.create_table(
        "diary",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("due_day", sa.Date(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_diary")),
    )
    with op.batch_alter_table("diary", schema=None) as batch_op:
        batch_op.create_index("ix_diary_due", ["clinic_id", "due_day", "state"], unique=False)

    op.create_table(
        "users",
        sa.Column("user_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("interfaces", sa.Text(), nullable=False),
        sa.Column("api_token_hash", sa.String(length=64), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
        sa.UniqueConstraint("api_token_hash", name=op.f("uq_users_api_token_hash")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "waiting_list",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("doctor", sa.String(length=200), nullable=False),
        sa.Column("wanted_day", sa.Date(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_waiting_list")),
    )
    op.create_table(
        "wrapups",
        sa.Column("wrapup_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("call_ref", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("started_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("wrapup_id", name=op.f("pk_wrapups")),
        sa.UniqueConstraint("user_id", "call_ref", name="uq_wrapups_call"),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", dialer.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"], name=op.f("fk_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attended", sa.Boolean(), nullable=True))

    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_callback_tasks_deadline", ["clinic_id", "state", "deadline_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_tasks_deadline")

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_column("attended")

    op.drop_table("sessions")
    op.drop_table("wrapups")
    op.drop_table("waiting_list")
    op.drop_table("users")
    with op.batch_alter_table("diary", schema=None) as batch_op:
        batch_op.drop_index("ix_diary_due")

    op.drop_table("diary")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_phone")
        batch_op.drop_index("ix_contacts_day")

    op.drop_table("contacts")
