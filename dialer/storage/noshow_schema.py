"""Why patients did not come: one reason per missed visit, on the one `metadata` of schema."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, Text, UniqueConstraint

from dialer.core.noshow import NoShowReason, NoShowSource
from dialer.storage.schema import metadata
from dialer.storage.types import UtcDateTime, one_of

# The last word about a visit's no-show, from the clinic's export or the senior administrator. The comment is
# free text and may speak of the patient: it goes with the visit when the visit is erased.
noshow_reasons = Table(
    "noshow_reasons",
    metadata,
    Column("reason_id", Integer, primary_key=True, autoincrement=True),
    Column("clinic_id", String(64), nullable=False),
    Column("appointment_id", String(64), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("source", String(8), nullable=False),
    Column("recorded_by", Integer, nullable=True),  # the user, for a reason recorded on the page
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("clinic_id", "appointment_id", name="uq_noshow_reasons_visit"),
    one_of("reason", NoShowReason),
    one_of("source", NoShowSource),
)
