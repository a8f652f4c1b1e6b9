"""The tables of calls, SMS, inbound traffic and access, and the one `metadata` every table is on.

Every table carries clinic_id. Attempt and SMS events are append-only. The clinic's journal is in journal_schema,
and so is `all_tables()`, this metadata with the journal's tables on it too."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from dialer.core.records import (
    AttemptState,
    DueState,
    InboundSource,
    ReminderStatus,
    TargetState,
    TaskKind,
    TaskState,
)
from dialer.core.sms import SmsStatus
from dialer.core.worklist_states import AdminTaskStatus
from dialer.storage.types import UtcDateTime, one_of

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

clinics = Table(
    "clinics",
    metadata,
    Column("clinic_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

patients = Table(
    "patients",
    metadata,
    Column("clinic_id", String(64), primary_key=True),
    Column("patient_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("consent_call", Boolean, nullable=False, default=True),
    Column("consent_sms", Boolean, nullable=False, default=True),
    Column("do_not_call", Boolean, nullable=False, default=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_patients_phone", "clinic_id", "phone"),
    # The caller's card: a number is looked up in every clinic (one Asterisk may serve several).
    Index("ix_patients_phone_any", "phone"),
)

appointments = Table(
    "appointments",
    metadata,
    Column("clinic_id", String(64), primary_key=True),
    Column("appointment_id", String(64), primary_key=True),
    Column("patient_id", String(64), nullable=False),
    Column("visit_at", UtcDateTime(), nullable=False),
    Column("visit_day", Date, nullable=False),
    Column("doctor", String(200), nullable=False),
    Column("specialty", String(200), nullable=False, default=""),
    Column("high_value", Boolean, nullable=False, default=False),
    Column("reminder_status", String(32), nullable=False, default=ReminderStatus.PENDING.value),
    Column("reminder_digit", String(1), nullable=True),
    Column("attended", Boolean, nullable=True),  # from the clinic's system after the visit: for no-show
    Column("imported_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # A day's visits with the keys their targets and patients are joined on, so the board's reminder funnel is
    # driven from the day's visits and never from every target of the clinic; with the status and attendance
    # the board and the daily report count, so those counts never fetch a visit's row.
    Index(
        "ix_appointments_visits",
        "clinic_id",
        "visit_day",
        "appointment_id",
        "patient_id",
        "reminder_status",
        "attended",
    ),
    Index("ix_appointments_patient", "patient_id", "visit_at"),  # the card's next visits
    one_of("reminder_status", ReminderStatus),
)

# One row per patient per campaign subject: the unit the planner reasons about.
targets = Table(
    "targets",
    metadata,
    Column("target_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("campaign", String(32), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("state", String(16), nullable=False, default=TargetState.ACTIVE.value),
    Column("stop_reason", String(32), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("clinic_id", "campaign", "subject_id", name="uq_targets_subject"),
    one_of("state", TargetState),
    Index("ix_targets_state", "campaign", "state"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("attempt_id", String(100), primary_key=True),
    Column("clinic_id", String(64), nullable=False),
    Column("target_id", Integer, ForeignKey("targets.target_id"), nullable=False),
    Column("n", Integer, nullable=False),
    Column("phone", String(20), nullable=False),
    Column("trunk", String(64), nullable=False),
    # dialing -> (answered) -> ended | unplaced (Asterisk never had it)
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("answered_at", UtcDateTime(), nullable=True),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("reason", Integer, nullable=True),
    Column("cause", Integer, nullable=True),
    Column("result", String(16), nullable=True),
    Column("digit", String(1), nullable=True),
    Column("settled", String(16), nullable=True),
    Column("linkedid", String(100), nullable=True),
    # What the second leg did, where there is one: a callback's patient leg (Asterisk's DIALSTATUS).
    Column("leg_status", String(16), nullable=True),
    UniqueConstraint("target_id", "n", name="uq_attempts_target_n"),
    one_of("state", AttemptState),
    Index("ix_attempts_state", "state"),
    # The daily report's confirmations and machines, from here alone.
    Index("ix_attempts_ended", "clinic_id", "ended_at", "digit", "result", "attempt_id"),
    Index("ix_attempts_created", "created_at"),  # the retention purge
    # The reminder funnel counts a day's targets' calls by state, and the machines among them, from here alone.
    Index("ix_attempts_target_state", "target_id", "state", "result"),
)

attempt_events = Table(
    "attempt_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("attempt_id", String(100), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("uniqueid", String(100), nullable=True),
    Column("linkedid", String(100), nullable=True),
    Column("reason", Integer, nullable=True),
    Column("cause", Integer, nullable=True),
    Column("digit", String(1), nullable=True),
    Column("detail", Text, nullable=True),
    Index("ix_attempt_events_attempt", "attempt_id"),
    Index("ix_attempt_events_at", "at"),  # the retention purge
)

# Due work with absolute due_at: a restart loses no deadline.
due_tasks = Table(
    "due_tasks",
    metadata,
    Column("task_id", String(120), primary_key=True),  # deterministic: scheduling twice is a no-op
    Column("clinic_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("campaign", String(32), nullable=False),
    Column("target_id", Integer, nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("state", String(16), nullable=False, default=DueState.PENDING.value),
    Column("tries", Integer, nullable=False, default=0),
    Column("claimed_by", String(64), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_due_tasks_due", "state", "due_at"),
    Index("ix_due_tasks_target", "target_id"),  # erasing a target's work
    one_of("kind", TaskKind),
    one_of("state", DueState),
)

sms_messages = Table(
    "sms_messages",
    metadata,
    Column("sms_key", String(120), primary_key=True),  # idempotency key
    Column("clinic_id", String(64), nullable=False),
    Column("target_id", Integer, nullable=True),
    Column("phone", String(20), nullable=False),
    Column("body", Text, nullable=False),
    Column("provider", String(16), nullable=False),
    Column("provider_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_sms_provider_id", "provider", "provider_id"),
    Index("ix_sms_messages_target", "target_id", "status"),  # the board's reminder funnel, by status
    Index("ix_sms_messages_created", "created_at"),  # the retention purge
    one_of("status", SmsStatus),
)

sms_events = Table(
    "sms_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("sms_key", String(120), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=True),
    Index("ix_sms_events_key", "sms_key"),  # erasing a message's log
    Index("ix_sms_events_at", "at"),  # the retention purge
    one_of("status", SmsStatus),
)

# Work for the administrators: after a cancel, reschedule or put on the waiting list.
admin_tasks = Table(
    "admin_tasks",
    metadata,
    Column("task_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("source", String(100), nullable=False),
    Column("status", String(16), nullable=False, default=AdminTaskStatus.OPEN.value),
    Column("comment", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=True),
    UniqueConstraint("clinic_id", "kind", "subject_id", "source", name="uq_admin_tasks_source"),
    one_of("status", AdminTaskStatus),
)

# Gaps in what the service saw of Asterisk: disconnects and restarts.
ami_gaps = Table(
    "ami_gaps",
    metadata,
    Column("gap_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("reason", Text, nullable=False),
)

# Only one process dials for a database at a time: the service, or a foreground `campaign run`.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("clinic_id", String(64), nullable=False, default="*"),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    # Raised at every takeover: the leader's fencing token (dialer/storage/fence.py).
    Column("generation", Integer, nullable=False, server_default="0"),
)

# Every inbound call that ended, answered or not: the source of the service-level figures.
inbound_calls = Table(
    "inbound_calls",
    metadata,
    Column("call_id", String(100), primary_key=True),  # Asterisk's Linkedid
    Column("clinic_id", String(64), nullable=False),
    Column("did", String(40), nullable=False, default=""),
    Column("queue", String(64), nullable=False, default=""),
    Column("caller", String(20), nullable=False, default=""),  # E.164, or "" when hidden or not a phone
    Column("queue_channel", String(100), nullable=False, default=""),  # queue_log's callid
    Column("hidden", Boolean, nullable=False, default=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("answered_at", UtcDateTime(), nullable=True),
    Column("ended_at", UtcDateTime(), nullable=False),
    Column("waited", Float, nullable=False, default=0.0),
    Column("answered_by", String(200), nullable=False, default=""),
    Column("miss_reason", String(32), nullable=True),
    Column("task_id", Integer, nullable=True),
    Column("source", String(16), nullable=False, default=InboundSource.LIVE.value),
    # The day's calls of a clinic; the rest of the key lets the board's hourly sums read the index alone.
    Index("ix_inbound_calls_day", "clinic_id", "started_at", "answered_at", "waited", "hidden"),
    Index("ix_inbound_calls_started", "started_at"),  # the retention purge
    one_of("source", InboundSource),
)

# One open callback per patient: several misses from one number while it is open count into it.
callback_tasks = Table(
    "callback_tasks",
    metadata,
    Column("task_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("missed_count", Integer, nullable=False, default=1),
    Column("first_call_id", String(100), nullable=False),
    Column("first_missed_at", UtcDateTime(), nullable=False),
    Column("last_missed_at", UtcDateTime(), nullable=False),
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("deadline_at", UtcDateTime(), nullable=False),
    Column("after_hours", Boolean, nullable=False, default=False),
    Column("target_id", Integer, nullable=True),
    Column("first_attempt_at", UtcDateTime(), nullable=True),
    Column("contacted_at", UtcDateTime(), nullable=True),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("close_reason", String(32), nullable=True),
    Index("ix_callback_tasks_open", "clinic_id", "phone", "state"),
    Index("ix_callback_tasks_deadline", "clinic_id", "state", "deadline_at"),
    Index("ix_callback_tasks_day", "clinic_id", "starts_at"),  # the service level of a day
    Index("ix_callback_tasks_phone", "phone", "state"),  # the card's open callbacks
    one_of("state", TaskState),
)

# Overload alerts: raised once, cleared once.
alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("cleared_at", UtcDateTime(), nullable=True),
    Column("detail", Text, nullable=False, default=""),
    Column("notified", Boolean, nullable=False, default=False),
    Index("ix_alerts_open", "clinic_id", "kind", "cleared_at"),
)

# Small facts the service keeps about itself, e.g. until when it saw the AMI stream.
marks = Table(
    "marks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("clinic_id", String(64), nullable=False, default="*"),
    Column("at", UtcDateTime(), nullable=False),
)

# People who log in: administrators (operators), the senior administrator (supervisor), and admins.
users = Table(
    "users",
    metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),  # operator | supervisor | admin
    Column("password_hash", String(200), nullable=False),
    Column("interfaces", Text, nullable=False, default=""),  # the operator's phones, one per line
    Column("api_token_hash", String(64), nullable=True, unique=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_login_at", UtcDateTime(), nullable=True),
)

# The clinics a user works for: one row per clinic, or one row "*" for every clinic. A user with no row holds
# no clinic and sees no clinic's data.
user_clinics = Table(
    "user_clinics",
    metadata,
    Column("user_id", Integer, ForeignKey("users.user_id"), primary_key=True),
    Column("clinic_id", String(64), primary_key=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("clinic_id", String(64), nullable=False, default="*"),
    Column("user_id", Integer, ForeignKey("users.user_id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index("ix_sessions_user", "user_id"),
)

# This database's installation id, made once: the first part of every attempt id, so that installations sharing
# one PBX never take each other's calls.
installation = Table(
    "installation",
    metadata,
    Column("slot", Integer, primary_key=True, autoincrement=False),  # always 1: one row, whatever the race
    Column("installation_id", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("slot = 1", name="one_row"),
)

# Who did what, for the clinic's own checks: logins, exports, imports, status changes, changes to users.
# Ids and masked numbers only: never a patient's name or phone number, never a password.
audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),  # a user name, "cli:<system user>", or "" (unknown name)
    Column("action", String(32), nullable=False),
    Column("clinic_id", String(64), nullable=False, default=""),  # "" when no clinic, "*" for several
    Column("detail", Text, nullable=False, default="{}"),  # JSON
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor", "actor", "at"),
)
