"""One typed Settings object, read from a TOML file and a few environment variables.

Unknown keys are an error, so a typo never silently falls back to a default. Secrets mask their repr.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dialer.campaigns.messages import DEFAULT_REMINDER_SMS, SmsTemplate
from dialer.campaigns.plan import AttemptPlan, WindowRule, window_rule
from dialer.core.calendar import WorkCalendar, zone
from dialer.core.errors import ConfigError, FieldError
from dialer.core.phones import dial_forms, normalize_phone
from dialer.core.timeutil import parse_duration, parse_time_of_day


@dataclass(frozen=True)
class Secret:
    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('****')" if self.value else "Secret('')"

    def __bool__(self) -> bool:
        return bool(self.value)


@dataclass(frozen=True)
class ServiceSettings:
    data_dir: Path = Path("var")
    database_url: str = ""
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    public_url: str = ""
    log_level: str = "INFO"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'dialer.db'}"


@dataclass(frozen=True)
class AmiSettings:
    host: str = ""  # empty: use the local Asterisk sandbox
    port: int = 5038
    username: str = "dialer"
    secret: Secret = Secret("")
    ping_interval: float = 10.0
    connect_timeout: float = 5.0
    reconnect_max_delay: float = 30.0

    @property
    def use_sandbox(self) -> bool:
        return not self.host


@dataclass(frozen=True)
class TrunkSettings:
    name: str
    dial: str = "PJSIP/{number}@trunk"
    max_channels: int = 10
    calls_per_second: float = 2.0
    ring_timeout: timedelta = timedelta(seconds=30)
    caller_id: str = ""


@dataclass(frozen=True)
class ClinicSettings:
    id: str
    name: str
    timezone: ZoneInfo
    phone: str = ""
    trunk: str = "main"
    queue: str = "reception"
    calendar: WorkCalendar = WorkCalendar()
    list_build_time: time | None = None  # None: the campaign's own


@dataclass(frozen=True)
class ReminderSettings:
    plan: AttemptPlan
    same_day: AttemptPlan | None
    sms: SmsTemplate = SmsTemplate(DEFAULT_REMINDER_SMS)
    list_build_time: time = time(10, 0)
    ivr_context: str = "dialer-reminder"


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str = ""
    auth_token: Secret = Secret("")
    from_number: str = ""
    api_base: str = ""  # empty: Twilio's own API host


@dataclass(frozen=True)
class SmsAeroSettings:
    email: str = ""
    api_key: Secret = Secret("")
    sign: str = "SMS Aero"
    api_base: str = ""  # empty: https://gate.smsaero.ru/v2


@dataclass(frozen=True)
class SmsSettings:
    provider: str = "none"  # twilio | smsaero | none
    twilio: TwilioSettings = TwilioSettings()
    smsaero: SmsAeroSettings = SmsAeroSettings()
    status_poll_interval: timedelta = timedelta(seconds=30)


CUSTOMER_PLAN = AttemptPlan(
    windows=(
        window_rule({"start": "11:00", "end": "16:00", "attempts": 2, "min_gap": "2h"}, "default"),
        window_rule({"start": "18:00", "end": "20:00", "attempts": 1}, "default"),
    )
)
SAME_DAY_PLAN = AttemptPlan(
    windows=(window_rule({"start": "09:00", "end": "11:00", "attempts": 1}, "default"),)
)


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = ServiceSettings()
    ami: AmiSettings = AmiSettings()
    trunks: Mapping[str, TrunkSettings] = field(default_factory=lambda: {"main": TrunkSettings("main")})
    clinics: Mapping[str, ClinicSettings] = field(default_factory=dict)
    reminders: ReminderSettings = ReminderSettings(CUSTOMER_PLAN, SAME_DAY_PLAN)
    sms: SmsSettings = SmsSettings()
    source: Path | None = None

    def clinic(self, clinic_id: str) -> ClinicSettings:
        try:
            return self.clinics[clinic_id]
        except KeyError:
            raise ConfigError(f"клиника {clinic_id!r} не настроена") from None

    def list_build_time(self, clinic_id: str) -> time:
        return self.clinic(clinic_id).list_build_time or self.reminders.list_build_time

    def trunk_for(self, clinic_id: str) -> TrunkSettings:
        return self.trunks[self.clinic(clinic_id).trunk]

    def with_reminder_windows(self, windows: tuple[WindowRule, ...]) -> Settings:
        return replace(
            self, reminders=replace(self.reminders, plan=replace(self.reminders.plan, windows=windows))
        )


class _Table:
    """A TOML table read strictly: every key must be consumed, and each value has the right type."""

    def __init__(self, raw: object, where: str) -> None:
        if not isinstance(raw, dict):
            raise ConfigError(f"[{where}] должен быть таблицей")
        self._raw: dict[str, Any] = raw
        self._where = where
        self._used: set[str] = set()

    def _get(self, key: str) -> Any:
        self._used.add(key)
        return self._raw.get(key)

    def has(self, key: str) -> bool:
        return key in self._raw

    def text(self, key: str, default: str) -> str:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ConfigError(f"{self._where}.{key}: нужна строка")
        return value

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ConfigError(f"{self._where}.{key}: нужно целое число ≥ {minimum}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{self._where}.{key}: нужно положительное число")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(f"{self._where}.{key}: нужно true или false")
        return value

    def duration(self, key: str, default: timedelta) -> timedelta:
        value = self._get(key)
        if value is None:
            return default
        try:
            return parse_duration(value, f"{self._where}.{key}")
        except FieldError as err:
            raise ConfigError(str(err)) from None

    def time_of_day(self, key: str, default: time) -> time:
        value = self._get(key)
        if value is None:
            return default
        try:
            return parse_time_of_day(str(value), f"{self._where}.{key}")
        except FieldError as err:
            raise ConfigError(str(err)) from None

    def table(self, key: str) -> _Table:
        value = self._get(key)
        return _Table(value if value is not None else {}, f"{self._where}.{key}")

    def items(self, key: str) -> list[Any]:
        value = self._get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(f"{self._where}.{key}: нужен список")
        return value

    def done(self) -> None:
        unknown = set(self._raw) - self._used
        if unknown:
            raise ConfigError(f"[{self._where}]: неизвестные ключи {sorted(unknown)}")


def _plan(table: _Table, default: AttemptPlan) -> AttemptPlan:
    rules = table.items("windows")
    windows = (
        tuple(window_rule(r, f"{table._where}.windows[{i}]") for i, r in enumerate(rules)) or default.windows
    )
    return AttemptPlan(
        windows=windows,
        retry_when_no_digit=table.flag("retry_when_no_digit", default.retry_when_no_digit),
        sms_when_not_reached=table.flag("sms_when_not_reached", default.sms_when_not_reached),
    )


def _calendar(table: _Table) -> WorkCalendar:
    closed = table.items("closed_weekdays")
    if not all(isinstance(d, int) and 1 <= d <= 7 for d in closed):
        raise ConfigError(f"{table._where}.closed_weekdays: дни недели числами 1 (пн) … 7 (вс)")
    return WorkCalendar(skip_holidays=table.flag("skip_holidays", True), closed_weekdays=frozenset(closed))


def _clinic(raw: object, index: int, trunks: Mapping[str, TrunkSettings]) -> ClinicSettings:
    t = _Table(raw, f"clinics[{index}]")
    clinic_id = t.text("id", "")
    if not clinic_id:
        raise ConfigError(f"clinics[{index}].id: не задан")
    try:
        tz = zone(t.text("timezone", "Europe/Moscow"))
        phone_raw = t.text("phone", "")
        phone = normalize_phone(phone_raw) if phone_raw else ""
    except FieldError as err:
        raise ConfigError(f"clinics[{index}]: {err}") from None
    trunk = t.text("trunk", "main")
    if trunk not in trunks:
        raise ConfigError(f"clinics[{index}].trunk: нет транка {trunk!r} (есть: {sorted(trunks)})")
    clinic = ClinicSettings(
        id=clinic_id,
        name=t.text("name", clinic_id),
        timezone=tz,
        phone=phone,
        trunk=trunk,
        queue=t.text("queue", "reception"),
        calendar=_calendar(t),
        list_build_time=t.time_of_day("list_build_time", time(0, 0)) if t.has("list_build_time") else None,
    )
    t.done()
    return clinic


def _trunk(name: str, raw: object) -> TrunkSettings:
    t = _Table(raw, f"trunks.{name}")
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
    trunk = TrunkSettings(
        name=name,
        dial=dial,
        max_channels=t.integer("max_channels", 10, minimum=1),
        calls_per_second=t.number("calls_per_second", 2.0),
        ring_timeout=t.duration("ring_timeout", timedelta(seconds=30)),
        caller_id=t.text("caller_id", ""),
    )
    t.done()
    return trunk


def _sms(t: _Table) -> SmsSettings:
    provider = t.text("provider", "none")
    if provider not in ("twilio", "smsaero", "none"):
        raise ConfigError(f"sms.provider: twilio, smsaero или none, а не {provider!r}")
    tw = t.table("twilio")
    twilio = TwilioSettings(
        account_sid=tw.text("account_sid", ""),
        auth_token=Secret(tw.text("auth_token", "")),
        from_number=tw.text("from_number", ""),
        api_base=tw.text("api_base", ""),
    )
    tw.done()
    ae = t.table("smsaero")
    smsaero = SmsAeroSettings(
        email=ae.text("email", ""),
        api_key=Secret(ae.text("api_key", "")),
        sign=ae.text("sign", "SMS Aero"),
        api_base=ae.text("api_base", ""),
    )
    ae.done()
    settings = SmsSettings(
        provider=provider,
        twilio=twilio,
        smsaero=smsaero,
        status_poll_interval=t.duration("status_poll_interval", timedelta(seconds=30)),
    )
    t.done()
    return settings


def parse_settings(raw: Mapping[str, Any], source: Path | None = None) -> Settings:
    root = _Table(dict(raw), "config")
    base = source.parent if source else Path.cwd()

    s = root.table("service")
    data_dir = Path(s.text("data_dir", "var"))
    service = ServiceSettings(
        data_dir=data_dir if data_dir.is_absolute() else base / data_dir,
        database_url=s.text("database_url", ""),
        listen_host=s.text("listen_host", "127.0.0.1"),
        listen_port=s.integer("listen_port", 8080, minimum=1),
        public_url=s.text("public_url", "").rstrip("/"),
        log_level=s.text("log_level", "INFO").upper(),
    )
    s.done()

    a = root.table("ami")
    ami = AmiSettings(
        host=a.text("host", ""),
        port=a.integer("port", 5038, minimum=1),
        username=a.text("username", "dialer"),
        secret=Secret(a.text("secret", "")),
        ping_interval=a.number("ping_interval", 10.0),
        connect_timeout=a.number("connect_timeout", 5.0),
        reconnect_max_delay=a.number("reconnect_max_delay", 30.0),
    )
    a.done()
    if ami.secret.value.upper().startswith("CHANGE_ME"):
        raise ConfigError(
            "ami.secret: замените пример из manager_dialer.conf на свой длинный случайный пароль"
        )

    trunks_table = root.table("trunks")
    trunk_names = [k for k in trunks_table._raw]
    trunks = {name: _trunk(name, trunks_table.table(name)._raw) for name in trunk_names} or {
        "main": TrunkSettings("main")
    }
    trunks_table.done()

    clinics: dict[str, ClinicSettings] = {}
    for i, raw_clinic in enumerate(root.items("clinics")):
        clinic = _clinic(raw_clinic, i, trunks)
        if clinic.id in clinics:
            raise ConfigError(f"clinics[{i}].id: клиника {clinic.id!r} описана дважды")
        clinics[clinic.id] = clinic

    campaigns = root.table("campaigns")
    r = campaigns.table("reminders")
    same_day_table = r.table("same_day")
    same_day_plan = _plan(same_day_table, SAME_DAY_PLAN)  # checked even when switched off
    same_day = same_day_plan if r.flag("same_day_confirmation", True) else None
    same_day_table.done()
    reminders = ReminderSettings(
        plan=_plan(r, CUSTOMER_PLAN),
        same_day=same_day,
        sms=SmsTemplate(r.text("sms_text", DEFAULT_REMINDER_SMS)),
        list_build_time=r.time_of_day("list_build_time", time(10, 0)),
        ivr_context=r.text("ivr_context", "dialer-reminder"),
    )
    r.done()
    campaigns.done()

    sms = _sms(root.table("sms"))
    root.done()
    return Settings(
        service=service, ami=ami, trunks=trunks, clinics=clinics, reminders=reminders, sms=sms, source=source
    )


ENV_OVERRIDES = {
    "DIALER_DATABASE_URL": ("service", "database_url"),
    "DIALER_DATA_DIR": ("service", "data_dir"),
    "DIALER_PUBLIC_URL": ("service", "public_url"),
    "DIALER_AMI_HOST": ("ami", "host"),
    "DIALER_AMI_USERNAME": ("ami", "username"),
    "DIALER_AMI_SECRET": ("ami", "secret"),
    "DIALER_TWILIO_AUTH_TOKEN": ("sms", "twilio", "auth_token"),
    "DIALER_SMSAERO_API_KEY": ("sms", "smsaero", "api_key"),
}


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for var, path in ENV_OVERRIDES.items():
        if var in env:
            node = raw
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = env[var]
    if "DIALER_AMI_PORT" in env:
        try:
            raw.setdefault("ami", {})["port"] = int(env["DIALER_AMI_PORT"])
        except ValueError:
            raise ConfigError("DIALER_AMI_PORT: нужен номер порта") from None


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `path` (or $DIALER_CONFIG), then apply environment overrides."""
    env = os.environ if env is None else env
    if path is None and env.get("DIALER_CONFIG"):
        path = Path(env["DIALER_CONFIG"])
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"нет файла настроек {path}") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: ошибка TOML: {err}") from None
    _apply_env(raw, env)
    return parse_settings(raw, path.resolve() if path else None)
