"""the daily report's confirmations and scorecards, answered from indexes

The daily report counts the day's ended calls, the reminders' confirmations and the machines among them, from
the calls' index by clinic and end; it fetched each call's row for the key pressed and the result, and the
target of each call confirmed on for its campaign. On a chain's busiest clinic that is 48,000 rows and 15,000
targets a day, most of the report's time. The index now carries the key, the result and the attempt's id,
which names its campaign.

The scorecards of the period were found through the index by clinic and administrator, which a report of the
whole clinic cannot narrow by time: every scorecard of the clinic was read. A second index by clinic and time
of scoring, with the call's key and the total, answers it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 06:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_ended")
        batch_op.create_index(
            "ix_attempts_ended", ["clinic_id", "ended_at", "digit", "result", "attempt_id"], unique=False
        )

    with op.batch_alter_table("call_scores", schema=None) as batch_op:
        batch_op.create_index(
            "ix_call_scores_day", ["clinic_id", "scored_at", "contact_id", "total"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("call_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_call_scores_day")

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_ended")
        batch_op.create_index("ix_attempts_ended", ["clinic_id", "ended_at"], unique=False)
