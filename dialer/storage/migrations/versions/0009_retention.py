"""indexes for the retention purge and for erasing one patient

The daily purge finds what is older than each limit by time (attempts, their log, SMS and their log, inbound
calls), and erasing a target takes its due work and its SMS log with it.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = (
    ("attempts", "ix_attempts_created", ["created_at"]),
    ("attempt_events", "ix_attempt_events_at", ["at"]),
    ("due_tasks", "ix_due_tasks_target", ["target_id"]),
    ("sms_messages", "ix_sms_messages_created", ["created_at"]),
    ("sms_events", "ix_sms_events_key", ["sms_key"]),
    ("sms_events", "ix_sms_events_at", ["at"]),
    ("inbound_calls", "ix_inbound_calls_started", ["started_at"]),
)


def upgrade() -> None:
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
