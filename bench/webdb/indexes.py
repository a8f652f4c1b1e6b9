"""The indexes of some migrations taken away again: the baselines of the board and pop-up benchmarks.

Only the indexes: the rest of the schema stays at the newest revision, which the product reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

# What migration 0005_board_indexes's downgrade does.
WITHOUT_BOARD_INDEXES = (
    "DROP INDEX ix_callback_tasks_day",
    "DROP INDEX ix_sms_messages_target",
    "DROP INDEX ix_attempts_ended",
    "CREATE INDEX ix_appointments_day ON appointments (clinic_id, visit_day)",
    "DROP INDEX ix_appointments_visits",
)
# What migration 0017_funnel_covering_indexes's downgrade does.
WITHOUT_FUNNEL_INDEXES = (
    "DROP INDEX ix_sms_messages_target",
    "CREATE INDEX ix_sms_messages_target ON sms_messages (target_id)",
    "DROP INDEX ix_attempts_target_state",
    "DROP INDEX ix_appointments_visits",
    "CREATE INDEX ix_appointments_visits ON appointments (clinic_id, visit_day, appointment_id, patient_id)",
)
# What migration 0018_report_covering_indexes's downgrade does.
WITHOUT_REPORT_INDEXES = (
    "DROP INDEX ix_call_scores_day",
    "DROP INDEX ix_attempts_ended",
    "CREATE INDEX ix_attempts_ended ON attempts (clinic_id, ended_at)",
)
# What migration 0006_card_indexes's downgrade does.
WITHOUT_CARD_INDEXES = (
    "DROP INDEX ix_recalls_phone",
    "DROP INDEX ix_diary_phone",
    "DROP INDEX ix_waiting_list_phone",
    "DROP INDEX ix_contacts_phone_at",
    "DROP INDEX ix_callback_tasks_phone",
    "DROP INDEX ix_appointments_patient",
    "DROP INDEX ix_patients_phone_any",
)


async def take_away(engine: AsyncEngine, statements: Sequence[str]) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.exec_driver_sql(statement)
