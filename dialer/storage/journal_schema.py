"""The clinic's journal tables: contacts, waiting list, diary, wrapups, КОС recalls, their webhook outbox, feedback,
offers and the freed slots waiting for them, on the one `metadata` of schema; and `all_tables()`, that metadata
with every table on it."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from dialer.core.recalls import RecallStatus
from dialer.core.records import WrapupState
from dialer.core.worklist_states import DiaryState, OfferState, WaitingState
from dialer.storage.schema import metadata
from dialer.storage.types import UtcDateTime, one_of

# Every contact with a patient, an «обращение»: who called whom, the result, and the flags.
contacts = Table(
    "contacts",
    metadata,
    Column("contact_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("patient_id", String(64), nullable=True),
    Column("direction", String(8), nullable=False),  # in | out («Мы звоним»)
    Column("flags", String(64), nullable=False, default=""),  # КОС, ЕЖ., comma-separated
    Column("user_id", Integer, nullable=True),
    Column("call_ref", String(100), nullable=False, default=""),
    Column("result", String(16), nullable=False),  # booked | call_again | refused | no_result
    Column("reason", String(200), nullable=False, default=""),
    Column("comment", Text, nullable=False, default=""),
    Column("follow_up", Date, nullable=True),
    Column("talk_seconds", Float, nullable=True),
    Column("wrap_seconds", Float, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_contacts_phone", "clinic_id", "phone"),
    Index("ix_contacts_day", "clinic_id", "created_at"),
    Index("ix_contacts_phone_at", "phone", "created_at"),  # the card's last contacts
)

# Лист ожидания: patients who want an earlier or a specific slot.
waiting_list = Table(
    "waiting_list",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("patient_id", String(64), nullable=True),
    Column("doctor", String(200), nullable=False, default=""),
    Column("wanted_day", Date, nullable=True),
    Column("priority", Integer, nullable=False, default=0),
    Column("comment", Text, nullable=False, default=""),
    Column("state", String(16), nullable=False, default=WaitingState.OPEN.value),
    Column("created_by", Integer, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_waiting_list_phone", "phone"),  # the card
    one_of("state", WaitingState),
)

# Ежедневник: dated call tasks with a comment.
diary = Table(
    "diary",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("patient_id", String(64), nullable=True),
    Column("due_day", Date, nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("state", String(16), nullable=False, default=DiaryState.OPEN.value),
    Column("created_by", Integer, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_diary_due", "clinic_id", "due_day", "state"),
    Index("ix_diary_phone", "phone"),  # the card
    one_of("state", DiaryState),
)

# A call an operator has yet to wrap up: kept across page reloads until saved.
wrapups = Table(
    "wrapups",
    metadata,
    Column("wrapup_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("call_ref", String(100), nullable=False),
    Column("phone", String(20), nullable=False, default=""),
    Column("direction", String(8), nullable=False),
    Column("reason", String(64), nullable=False, default=""),  # why the call was made or came: for the form
    Column("started_at", UtcDateTime(), nullable=False),
    Column("answered_at", UtcDateTime(), nullable=True),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("state", String(16), nullable=False, default=WrapupState.PENDING.value),
    UniqueConstraint("user_id", "call_ref", name="uq_wrapups_call"),
    one_of("state", WrapupState),
)

# КОС: the patients doctors want back for a control examination («3. Звать» in the clinic's journal).
recalls = Table(
    "recalls",
    metadata,
    Column("recall_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("patient_name", String(200), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("doctor", String(200), nullable=False),
    Column("comment", Text, nullable=False, default=""),  # the doctor's proposal: what the call is about
    Column("target_day", Date, nullable=False),
    Column("status", String(16), nullable=False, default=RecallStatus.CALL.value),
    Column("reason", String(200), nullable=False, default=""),
    Column("status_comment", Text, nullable=False, default=""),
    Column(
        "moves", Integer, nullable=False, default=0
    ),  # how many times the date moved for not reaching them
    Column("booked_day", Date, nullable=True),
    Column("planned", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("clinic_id", "external_id", name="uq_recalls_external"),
    Index("ix_recalls_due", "clinic_id", "status", "target_day"),
    Index("ix_recalls_phone", "phone", "status"),  # the card's КОС recall
    one_of("status", RecallStatus),
)

# Status changes waiting to be delivered to the clinic's own system: at least once, with an idempotency key.
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("event_key", String(120), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_webhook_outbox_due", "delivered_at", "next_at"),
)

# Answers to the post-visit follow-up and the survey IVRs.
feedback = Table(
    "feedback",
    metadata,
    Column("feedback_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("appointment_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # followup | survey
    Column("digit", String(1), nullable=False),
    Column("attempt_id", String(100), nullable=False, unique=True),
    Column("at", UtcDateTime(), nullable=False),
)

# A freed slot offered to the waiting list, one patient after another in priority order.
offers = Table(
    "offers",
    metadata,
    Column("offer_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("appointment_id", String(64), nullable=False),  # the cancelled visit whose slot is free
    Column("doctor", String(200), nullable=False),
    Column("slot_at", UtcDateTime(), nullable=False),
    Column("entry_id", Integer, nullable=False),  # the waiting-list entry it is offered to
    Column("state", String(16), nullable=False, default=OfferState.OFFERED.value),
    Column("sms_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("appointment_id", "entry_id", name="uq_offers_slot_entry"),
    one_of("state", OfferState),
)

# A slot free for the waiting list: a visit the patient cancelled on a reminder call, or one whose offer was
# declined or expired. Written with the cancellation (or the offer's end) and kept until the slot has been handed
# to the waiting list: a stop between the two leaves the slot to be offered at the next start.
freed_slots = Table(
    "freed_slots",
    metadata,
    Column("clinic_id", String(64), primary_key=True),
    Column("appointment_id", String(64), primary_key=True),
    Column("freed_at", UtcDateTime(), nullable=False),
)


def all_tables() -> MetaData:
    """Every table of the database: schema's and this module's, on their one metadata. What needs them all (the
    migrations, a check of the whole database) takes them from here, so that none is missed."""
    from dialer.storage import noshow_schema, quality_schema  # noqa: F401  (their tables join the metadata)

    return metadata
