"""state columns hold only the states the code knows

Every state column (a visit's reminder status, a target's, an attempt's, a due task's kind and state, an SMS's
status, an inbound call's source, a callback task's and a wrap-up's state, a recall's status) gets a CHECK
listing its values, so that a typo or a stale writer is refused by the database instead of being read back as
a state nobody handles. The values are written out here, not taken from the enums: a later revision that adds
a state changes the CHECK in a revision of its own.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 07:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# table -> [(column, its values)]
KNOWN_STATES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "appointments": [
        (
            "reminder_status",
            (
                "pending",
                "calling",
                "confirmed",
                "cancelled",
                "to_admin",
                "reached_unconfirmed",
                "not_reached",
                "invalid_number",
                "do_not_call",
            ),
        ),
    ],
    "targets": [("state", ("active", "done"))],
    "attempts": [("state", ("dialing", "answered", "ended", "unplaced"))],
    "due_tasks": [
        ("kind", ("dial", "sms")),
        ("state", ("pending", "running", "done", "cancelled")),
    ],
    "sms_messages": [
        ("status", ("pending", "queued", "sending", "sent", "delivered", "undelivered", "failed", "skipped")),
    ],
    "inbound_calls": [("source", ("live", "queue_log", "link_gap"))],
    "callback_tasks": [("state", ("open", "contacted", "not_reached"))],
    "wrapups": [("state", ("pending", "saved"))],
    "recalls": [("status", ("call", "booked", "refused"))],
}


def _name(table: str, column: str) -> str:
    return f"ck_{table}_{column}_known"


def upgrade() -> None:
    # SQLite cannot add a constraint to a table: batch mode rebuilds each table with it, data and indexes kept.
    for table, columns in KNOWN_STATES.items():
        with op.batch_alter_table(table) as batch:
            for column, values in columns:
                listed = ", ".join(f"'{v}'" for v in values)
                batch.create_check_constraint(op.f(_name(table, column)), f"{column} IN ({listed})")


def downgrade() -> None:
    for table, columns in KNOWN_STATES.items():
        with op.batch_alter_table(table) as batch:
            for column, _values in columns:
                batch.drop_constraint(op.f(_name(table, column)), type_="check")
