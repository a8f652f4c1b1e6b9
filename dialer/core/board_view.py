"""The senior administrator's live board of one clinic, as the board's page reads it
(dialer/web/static/supervisor.js): the tiles, the open callbacks, the administrators' states, the reminder
campaign's funnel, today by hour and the alerts."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from dialer.core.sla import FiguresView


class Tiles(TypedDict):
    waiting: int
    longest_wait: int
    answered_in_target_pct: float
    missed_pct: float
    missed_target: tuple[float, float]
    missed_ok: bool
    calls: int
    missed: int
    open_callbacks: int
    breaches: int
    callbacks_in_deadline_pct: float


class OpenCallback(TypedDict):
    task_id: int
    phone: str  # masked
    missed_count: int
    reason: str
    deadline_at: str
    seconds_left: int
    risk: str  # green | amber | breach
    attempted: bool


class AdminState(TypedDict):
    interface: str
    name: str
    state: str
    label: str


class Funnel(TypedDict):
    due: int
    dialled: int
    reached: int
    confirmed: int
    cancelled: int
    sms_sent: int
    sms_delivered: int


class AlertLine(TypedDict):
    kind: object
    label: str
    detail: object
    raised_at: str


class AheadView(TypedDict):
    count: int  # today's callbacks that took an administrator ahead of the queue
    last_at: str | None


class PbxDown(TypedDict):
    """One of several Asterisks is unreachable: the clinics whose calls wait for it."""

    pbx: str
    since: str
    text: str


def pbx_down_text(pbx: str, since: str, clinic_names: list[str]) -> str:
    """«Нет связи с АТС east с 11:02 — звонки клиник «Восток», «Север» ждут»; `since` is the clinic's HH:MM."""
    whose = "клиники" if len(clinic_names) == 1 else "клиник"
    return f"Нет связи с АТС {pbx} с {since} — звонки {whose} {', '.join(clinic_names)} ждут"


class BoardMessage(TypedDict):
    type: Literal["board"]
    clinic: str
    at: str
    tz: str
    tiles: Tiles
    callbacks: list[OpenCallback]
    admins: list[AdminState]
    campaign: Funnel
    hours: dict[int, FiguresView]
    alerts: list[AlertLine]
    chart: NotRequired[str]  # today by hour as SVG, drawn by the web
    ahead_of_queue: NotRequired[AheadView]
    pbx_down: NotRequired[list[PbxDown]]  # with several Asterisks: this clinic's, while it is down
