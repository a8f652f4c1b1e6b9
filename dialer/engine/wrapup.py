"""Saving an operator's wrap-up: the contact («обращение»), and a diary entry or a waiting-list entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from dialer.core.clock import Clock
from dialer.core.errors import Conflict, FieldError, NotFound
from dialer.core.privacy import mask_phone
from dialer.core.records import ContactRecord, WrapupRow, WrapupState
from dialer.core.staff import AuditAction, UserRow
from dialer.core.stores import AuditLog, WrapupStore
from dialer.core.wrapup import FormErrors, WrapupForm, parse_wrapup
from dialer.engine.complaints import ComplaintDesk
from dialer.settings import Settings

OUT_FLAG = "Мы звоним"
KIND_FLAGS = {"kos": "КОС", "diary": "ЕЖ."}
# Calls whose "call again" is the campaign's own next date, not a diary entry.
OWN_DATES = frozenset({"kos"})

# What happens after a wrap-up is saved: the campaign the call belonged to takes the result.
AfterWrapup = Callable[[WrapupRow, WrapupForm, UserRow], Awaitable[None]]


class WrapupGone(Conflict):
    """No such wrap-up for this operator, or it was saved already."""


class WrapupNotFound(NotFound, WrapupGone):
    """No such wrap-up for this operator."""


async def save_wrapup(
    *,
    settings: Settings,
    store: WrapupStore,
    clock: Clock,
    user: UserRow,
    wrapup_id: int,
    raw: Mapping[str, object],
    after: AfterWrapup | None = None,
    audit: AuditLog | None = None,
    complaints: ComplaintDesk | None = None,
) -> WrapupForm:
    row = await _pending(store, user, wrapup_id)
    clinic = settings.clinics.get(row.clinic_id)
    now = clock.now()
    today = now.astimezone(clinic.timezone).date() if clinic else now.date()
    form = parse_wrapup(raw, today, settings.reasons)
    if form.result == "call_again" and form.call_again_day is None:
        raise FormErrors([FieldError("call_again_date", "когда перезвонить")])
    if not await store.save(wrapup_id, _contact(row, form, user, now)):
        raise WrapupGone("этот звонок уже оформлен")
    if audit is not None:
        detail = {
            "wrapup_id": wrapup_id,
            "call": row.reason,
            "result": form.result,
            "phone": mask_phone(row.phone),
        }
        if form.complaint is not None:
            detail["complaint"] = form.complaint.complaint_class.value
        await audit.record(user.username, AuditAction.WRAPUP, row.clinic_id, detail, now)
    if form.complaint is not None and complaints is not None:
        await complaints.record(row, form.complaint, user, now)
    if after is not None:
        await after(row, form, user)
    return form


async def _pending(store: WrapupStore, user: UserRow, wrapup_id: int) -> WrapupRow:
    """The operator's own wrap-up, still to be saved."""
    row = await store.get(wrapup_id)
    # Another operator's call, or one of a clinic this operator no longer holds, answers as if it did not exist.
    if row is None or row.user_id != user.user_id or not user.holds(row.clinic_id):
        raise WrapupNotFound("нет такого звонка для оформления")
    if row.state != WrapupState.PENDING:
        raise WrapupGone("этот звонок уже оформлен")
    return row


def _contact(row: WrapupRow, form: WrapupForm, user: UserRow, now: datetime) -> ContactRecord:
    """The contact the wrap-up records, with the talk and wrap-up times measured from the call."""
    talk = (row.ended_at - row.answered_at).total_seconds() if row.ended_at and row.answered_at else None
    wrap = (now - row.ended_at).total_seconds() if row.ended_at else None
    # "Звать / перезвонить" puts the patient in the diary on that day, unless a diary date was given.
    diary_day = form.diary_day or (
        form.call_again_day if form.result == "call_again" and row.reason not in OWN_DATES else None
    )
    return ContactRecord(
        clinic_id=row.clinic_id,
        phone=row.phone,
        patient_id=None,
        direction=row.direction,
        flags=_flags(row.direction, row.reason),
        user_id=user.user_id,
        call_ref=row.call_ref,
        result=form.result,
        reason=form.reason,
        comment=_comment(form),
        follow_up=form.follow_up,
        talk_seconds=talk,
        wrap_seconds=wrap,
        created_at=now,
        diary_day=diary_day,
        diary_comment=form.diary_comment or form.comment,
        waiting_doctor=form.waiting_doctor,
        waiting_day=form.waiting_day,
        waiting_comment=form.waiting_comment,
    )


def _flags(direction: str, kind: str) -> tuple[str, ...]:
    flags = [OUT_FLAG] if direction == "out" else []
    if kind in KIND_FLAGS:
        flags.append(KIND_FLAGS[kind])
    return tuple(flags)


def _comment(form: WrapupForm) -> str:
    parts = [form.comment] if form.comment else []
    if form.slots:
        parts.append("предложено: " + " / ".join(form.slots))
    if form.visit_time and form.visit_day:
        parts.append(f"визит {form.visit_day:%d.%m} в {form.visit_time:%H:%M}")
    return "; ".join(parts)
