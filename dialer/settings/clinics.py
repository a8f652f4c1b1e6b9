"""The `[trunks.*]` and `[[clinics]]` sections: where each clinic calls from, when, and in which time zone."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import time, timedelta

from dialer.core.calendar import WorkCalendar, zone
from dialer.core.errors import ConfigError, FieldError
from dialer.core.hours import DEFAULT_CALLING_HOURS, CallingHours, OpeningHours
from dialer.core.phones import dial_forms, normalize_phone
from dialer.core.quality import CRITERIA, SCORECARD_TOTAL, scorecard
from dialer.settings.model import ClinicSettings, QualitySettings, TrunkSettings
from dialer.settings.reader import Table


@contextmanager
def _field_errors(where: str) -> Iterator[None]:
    """A FieldError from a value parser becomes a ConfigError that names the clinic."""
    try:
        yield
    except FieldError as err:
        raise ConfigError(f"{where}: {err}") from None


def _phone(t: Table, key: str) -> str:
    raw = t.text(key, "")
    return normalize_phone(raw) if raw else ""


def _calendar(table: Table) -> WorkCalendar:
    closed = table.items("closed_weekdays")
    if not all(isinstance(d, int) and 1 <= d <= 7 for d in closed):
        raise ConfigError(f"{table._where}.closed_weekdays: дни недели числами 1 (пн) … 7 (вс)")
    return WorkCalendar(skip_holidays=table.flag("skip_holidays", True), closed_weekdays=frozenset(closed))


def _callback_mode(t: Table, index: int) -> str:
    mode = t.text("callback_mode", "agent_first")
    if mode not in ("agent_first", "auto"):
        raise ConfigError(f"clinics[{index}].callback_mode: agent_first или auto, а не {mode!r}")
    return mode


def _quality(t: Table, index: int) -> QualitySettings:
    """`[clinics.quality]`: recording, its announcement, and the scorecard's points (`[clinics.quality.weights]`)."""
    q = t.table("quality")
    d = QualitySettings()
    weights = q.table("weights")
    points = {c.key: weights.integer(c.key, c.points) for c in CRITERIA}
    weights.done()
    try:
        card = scorecard(points)
    except FieldError as err:
        raise ConfigError(f"clinics[{index}].quality.{err}") from None
    goal = q.integer("qa_goal", d.qa_goal)
    if goal > SCORECARD_TOTAL:
        raise ConfigError(f"clinics[{index}].quality.qa_goal: от 0 до {SCORECARD_TOTAL}, а не {goal}")
    return q.close(
        QualitySettings(
            record=q.flag("record", d.record),
            announce=q.flag("announce", d.announce),
            operators_hear_own=q.flag("operators_hear_own", d.operators_hear_own),
            scorecard=card,
            qa_goal=goal,
        )
    )


def _clinic(raw: object, index: int, trunks: Mapping[str, TrunkSettings]) -> ClinicSettings:
    t = Table(raw, f"clinics[{index}]")
    clinic_id = t.text("id", "")
    if not clinic_id:
        raise ConfigError(f"clinics[{index}].id: не задан")
    with _field_errors(f"clinics[{index}]"):
        tz = zone(t.text("timezone", "Europe/Moscow"))
        phone = _phone(t, "phone")
    trunk = t.text("trunk", "main")
    if trunk not in trunks:
        raise ConfigError(f"clinics[{index}].trunk: нет транка {trunk!r} (есть: {sorted(trunks)})")
    with _field_errors(f"clinics[{index}]"):
        hours = OpeningHours.parse(t.items("hours"), f"clinics[{index}].hours")
        supervisor = _phone(t, "supervisor_phone")
    calling_hours = _calling_hours(t, index)
    mode = _callback_mode(t, index)
    quality = _quality(t, index)
    return t.close(
        ClinicSettings(
            id=clinic_id,
            name=t.text("name", clinic_id),
            timezone=tz,
            phone=phone,
            trunk=trunk,
            queue=t.text("queue", "reception"),
            pbx=t.text("pbx", "main"),
            calendar=_calendar(t),
            list_build_time=t.time_of_day("list_build_time", time(0, 0))
            if t.has("list_build_time")
            else None,
            dids=t.texts("dids"),
            queues=t.texts("queues"),
            hours=hours,
            calling_hours=calling_hours,
            callback_deadline=t.duration("callback_deadline", timedelta(0))
            if t.has("callback_deadline")
            else None,
            callback_mode=mode,
            supervisor_phone=supervisor,
            kos_per_day=t.integer("kos_per_day", 30) if t.has("kos_per_day") else None,
            quality=quality,
        )
    )


def _calling_hours(t: Table, index: int) -> CallingHours:
    """`calling_hours = "08:00-21:00"`: when this clinic's patients may be called at all, in its own time."""
    if not t.has("calling_hours"):
        return DEFAULT_CALLING_HOURS
    try:
        return CallingHours.parse(t.text("calling_hours", ""), f"clinics[{index}].calling_hours")
    except FieldError as err:
        raise ConfigError(str(err)) from None


def _trunk(name: str, raw: object) -> TrunkSettings:
    t = Table(raw, f"trunks.{name}")
    dial = t.text("dial", "PJSIP/{number}@trunk")
    sample = dial_forms("+79161234567")
    try:
        filled = dial.format(**sample)
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(
            f"trunks.{name}.dial: шаблон {dial!r} не заполняется ({err}); можно {{number}}, {{e164}}, {{national}}"
        ) from None
    if not any(value in filled for value in sample.values()):
        raise ConfigError(
            f"trunks.{name}.dial: шаблон должен содержать {{number}}, {{e164}} или {{national}}"
        )
    return t.close(
        TrunkSettings(
            name=name,
            dial=dial,
            max_channels=t.integer("max_channels", 10, minimum=1),
            calls_per_second=t.number("calls_per_second", 2.0),
            ring_timeout=t.duration("ring_timeout", timedelta(seconds=30)),
            caller_id=t.text("caller_id", ""),
        )
    )


def parse_trunks(t: Table) -> dict[str, TrunkSettings]:
    """`[trunks.NAME]` tables; without any, one trunk called "main" with the defaults."""
    trunks = {name: _trunk(name, t.table(name)._raw) for name in list(t._raw)} or {
        "main": TrunkSettings("main")
    }
    t.done()
    return trunks


def parse_clinics(items: list[object], trunks: Mapping[str, TrunkSettings]) -> dict[str, ClinicSettings]:
    """`[[clinics]]`, keyed by id; an id may be described once."""
    clinics: dict[str, ClinicSettings] = {}
    for i, raw_clinic in enumerate(items):
        clinic = _clinic(raw_clinic, i, trunks)
        if clinic.id in clinics:
            raise ConfigError(f"clinics[{i}].id: клиника {clinic.id!r} описана дважды")
        clinics[clinic.id] = clinic
    return clinics
