"""the state columns 0011 left out hold only the states the code knows

An SMS event's status, an administrator's task's status, and the states of a diary entry, a waiting-list entry
and a slot offered to it get a CHECK listing their values, as revision 0011 did for the other state columns.
Every value the code has written to them is listed; they are written out here, not taken from the enums.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# table -> (column, its values)
KNOWN_STATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "sms_events": (
        "status",
        ("pending", "queued", "sending", "sent", "delivered", "undelivered", "failed", "skipped"),
    ),
    "admin_tasks": ("status", ("open",)),
    "diary": ("state", ("open", "done")),
    "waiting_list": ("state", ("open", "booked")),
    "offers": ("state", ("offered", "booked", "declined", "expired")),
}


def upgrade() -> None:
    # SQLite cannot add a constraint to a table: batch mode rebuilds each table with it, data and indexes kept.
    for table, (column, values) in KNOWN_STATES.items():
        listed = ", ".join(f"'{v}'" for v in values)
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(op.f(f"ck_{table}_{column}_known"), f"{column} IN ({listed})")


def downgrade() -> None:
    for table, (column, _values) in KNOWN_STATES.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_{column}_known"), type_="check")
