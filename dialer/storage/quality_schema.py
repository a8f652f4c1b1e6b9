"""Call quality tables: conversation recordings, scorecards, the skill of the week and complaints, on the one
`metadata` of schema."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, Float, Index, Integer, String, Table, Text, UniqueConstraint

from dialer.core.quality import ComplaintClass
from dialer.storage.schema import metadata
from dialer.storage.types import UtcDateTime, one_of

# One recorded conversation between an administrator and a patient, as Asterisk's MixMonitor wrote it and the
# service compressed it. `file_name` is relative to the service's recordings folder.
recordings = Table(
    "recordings",
    metadata,
    Column("recording_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("call_ref", String(100), nullable=False),  # Asterisk's Linkedid: the contact's call_ref
    Column("kind", String(16), nullable=False),  # inbound | callback | kos | diary | reminder | …
    Column("user_id", Integer, nullable=True),  # the administrator, when their extension is known
    Column("member", String(80), nullable=False, default=""),  # the queue member or phone that talked
    Column("phone", String(20), nullable=False, default=""),  # the patient's number
    # Written with the row, once the compressed file is in the folder: a row never names a file still being made.
    Column("file_name", String(200), nullable=False, default=""),
    Column("seconds", Float, nullable=True),
    Column("bytes", Integer, nullable=True),
    Column("announced", Boolean, nullable=False, default=False),  # the patient heard the recording notice
    Column("started_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime(), nullable=True),
    UniqueConstraint("call_ref", "member", "started_at", name="uq_recordings_call"),
    Index("ix_recordings_day", "clinic_id", "started_at"),
    Index("ix_recordings_call", "call_ref"),
)

# A supervisor's scorecard of one call (one contact): the points per criterion with a comment each, as JSON
# {"greeting": {"points": 10, "comment": "…"}, …}, and their sum. One per contact; a rescore replaces it.
call_scores = Table(
    "call_scores",
    metadata,
    Column("score_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("contact_id", Integer, nullable=False),
    Column("user_id", Integer, nullable=True),  # the administrator whose call it was
    Column("scored_by", Integer, nullable=True),
    Column("total", Integer, nullable=False),
    Column("items", Text, nullable=False, default="{}"),
    Column("comment", Text, nullable=False, default=""),
    Column("scored_at", UtcDateTime(), nullable=False),
    UniqueConstraint("contact_id", name="uq_call_scores_contact"),
    Index("ix_call_scores_week", "clinic_id", "user_id", "scored_at"),
    Index(
        "ix_call_scores_day", "clinic_id", "scored_at", "contact_id", "total"
    ),  # the daily report's QA average
)

# «Навык недели»: the skill the senior administrator picked for one administrator at the weekly listening.
weekly_skills = Table(
    "weekly_skills",
    metadata,
    Column("skill_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("week_start", Date, nullable=False),  # the week's Monday, in the clinic's zone
    Column("skill", String(200), nullable=False),
    Column("set_by", Integer, nullable=True),
    Column("set_at", UtcDateTime(), nullable=False),
    UniqueConstraint("clinic_id", "user_id", "week_start", name="uq_weekly_skills_week"),
)

# A patient's complaint marked in the wrap-up (class A is escalated at once).
complaints = Table(
    "complaints",
    metadata,
    Column("complaint_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("contact_id", Integer, nullable=True),
    Column("user_id", Integer, nullable=True),
    Column("complaint_class", String(1), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("alerted_at", UtcDateTime(), nullable=True),  # class A: when the senior administrator was told
    one_of("complaint_class", ComplaintClass),
    Index("ix_complaints_day", "clinic_id", "created_at"),
)
