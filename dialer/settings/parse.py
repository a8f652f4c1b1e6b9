"""Building Settings from the parsed TOML, section by section."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from dialer.campaigns.callbacks import CallbackPolicy, Priority
from dialer.campaigns.messages import DEFAULT_REMINDER_SMS, SmsTemplate
from dialer.campaigns.plan import AttemptPlan, window_rule
from dialer.core.calendar import WorkCalendar, zone
from dialer.core.errors import ConfigError, FieldError
from dialer.core.hours import DEFAULT_CALLING_HOURS, CallingHours, OpeningHours
from dialer.core.phones import dial_forms, normalize_phone
from dialer.core.wrapup import Reasons
from dialer.settings.checks import refuse_calls_outside_hours
from dialer.settings.model import (
    CUSTOMER_PLAN,
    SAME_DAY_PLAN,
    AlertSettings,
    AmiSettings,
    ClinicSettings,
    InboundSettings,
    IvrCampaignSettings,
    KosSettings,
    RehearsalSettings,
    ReminderSettings,
    RetentionSettings,
    Secret,
    ServiceSettings,
    Settings,
    SmsAeroSettings,
    SmsSettings,
    TrunkSettings,
    TwilioSettings,
    WaitingListSettings,
    WebhookSettings,
)
from dialer.settings.reader import Table


def _plan(table: Table, default: AttemptPlan) -> AttemptPlan:
    rules = table.items("windows")
    windows = (
        tuple(window_rule(r, f"{table._where}.windows[{i}]") for i, r in enumerate(rules)) or default.windows
    )
    return AttemptPlan(
        windows=windows,
        retry_when_no_digit=table.flag("retry_when_no_digit", default.retry_when_no_digit),
        sms_when_not_reached=table.flag("sms_when_not_reached", default.sms_when_not_reached),
    )


def _calendar(table: Table) -> WorkCalendar:
    closed = table.items("closed_weekdays")
    if not all(isinstance(d, int) and 1 <= d <= 7 for d in closed):
        raise ConfigError(f"{table._where}.closed_weekdays: дни недели числами 1 (пн) … 7 (вс)")
    return WorkCalendar(skip_holidays=table.flag("skip_holidays", True), closed_weekdays=frozenset(closed))


def _clinic(raw: object, index: int, trunks: Mapping[str, TrunkSettings]) -> ClinicSettings:
    t = Table(raw, f"clinics[{index}]")
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
    try:
        hours = OpeningHours.parse(t.items("hours"), f"clinics[{index}].hours")
        supervisor_raw = t.text("supervisor_phone", "")
        supervisor = normalize_phone(supervisor_raw) if supervisor_raw else ""
    except FieldError as err:
        raise ConfigError(f"clinics[{index}]: {err}") from None
    calling_hours = _calling_hours(t, index)
    mode = t.text("callback_mode", "agent_first")
    if mode not in ("agent_first", "auto"):
        raise ConfigError(f"clinics[{index}].callback_mode: agent_first или auto, а не {mode!r}")
    clinic = ClinicSettings(
        id=clinic_id,
        name=t.text("name", clinic_id),
        timezone=tz,
        phone=phone,
        trunk=trunk,
        queue=t.text("queue", "reception"),
        calendar=_calendar(t),
        list_build_time=t.time_of_day("list_build_time", time(0, 0)) if t.has("list_build_time") else None,
        dids=tuple(str(d) for d in t.items("dids")),
        queues=tuple(str(q) for q in t.items("queues")),
        hours=hours,
        calling_hours=calling_hours,
        callback_deadline=t.duration("callback_deadline", timedelta(0))
        if t.has("callback_deadline")
        else None,
        callback_mode=mode,
        supervisor_phone=supervisor,
        kos_per_day=t.integer("kos_per_day", 30) if t.has("kos_per_day") else None,
    )
    t.done()
    return clinic


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


def _sms(t: Table) -> SmsSettings:
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


def _callbacks(t: Table) -> CallbackPolicy:
    default = CallbackPolicy()
    priority = t.text("priority", default.priority.value)
    if priority not in {p.value for p in Priority}:
        raise ConfigError(f"campaigns.callbacks.priority: deadline или fifo, а не {priority!r}")
    policy = CallbackPolicy(
        deadline=t.duration("deadline", default.deadline),
        attempts=t.integer("attempts", default.attempts, minimum=1),
        min_gap=t.duration("min_gap", default.min_gap),
        work_for=t.duration("work_for", default.work_for),
        priority=Priority(priority),
        ring_timeout=t.duration("ring_timeout", default.ring_timeout),
        admin_ring=t.duration("admin_ring", default.admin_ring),
        not_reached_sms=SmsTemplate(t.text("not_reached_sms", default.not_reached_sms.text)),
        after_hours_sms=SmsTemplate(t.text("after_hours_sms", default.after_hours_sms.text)),
    )
    t.done()
    return policy


def _kos(t: Table) -> KosSettings:
    d = KosSettings()
    window = t.table("window")
    rule = window_rule(window._raw, "campaigns.kos.window") if window._raw else d.window
    window._used.update(window._raw)
    kos = KosSettings(
        calls=t.integer("calls", d.calls, minimum=1),
        moves=t.integer("moves", d.moves),
        gap=t.duration("gap", d.gap),
        window=rule,
        ratio=t.number("ratio", d.ratio),
        drop_cap=t.number("drop_cap", d.drop_cap),
        wait_for_admin=t.duration("wait_for_admin", d.wait_for_admin),
        per_day=t.integer("per_day", d.per_day),
    )
    t.done()
    return kos


def _ivr(t: Table, default: IvrCampaignSettings) -> IvrCampaignSettings:
    settings = IvrCampaignSettings(
        enabled=t.flag("enabled", default.enabled),
        days_after=t.integer("days_after", default.days_after),
        plan=_plan(t, default.plan),
        low_rating=t.integer("low_rating", default.low_rating),
    )
    t.done()
    return settings


def _waiting_list(t: Table) -> WaitingListSettings:
    d = WaitingListSettings()
    settings = WaitingListSettings(
        reply_window=t.duration("reply_window", d.reply_window),
        sms=SmsTemplate(t.text("sms_text", d.sms.text)),
    )
    t.done()
    return settings


def _reasons(t: Table) -> Reasons:
    d = Reasons()
    refusal = tuple(str(r) for r in t.items("refusal_reasons")) or d.refusal
    call_again = tuple(str(r) for r in t.items("call_again_reasons")) or d.call_again
    t.done()
    return Reasons(refusal, call_again)


def _webhook(t: Table) -> WebhookSettings:
    settings = WebhookSettings(url=t.text("url", ""), secret=Secret(t.text("secret", "")))
    if settings.url and not settings.secret:
        raise ConfigError(
            "webhook.secret: нужен секрет для подписи (HMAC) — иначе получатель не сможет проверить"
        )
    t.done()
    return settings


def _inbound(t: Table) -> InboundSettings:
    inbound = InboundSettings(
        contexts=tuple(str(c) for c in t.items("contexts")) or InboundSettings().contexts,
        staff_contexts=tuple(str(c) for c in t.items("staff_contexts")),
        queue_log=t.text("queue_log", ""),
    )
    t.done()
    return inbound


def _alerts(t: Table) -> AlertSettings:
    d = AlertSettings()
    alerts = AlertSettings(
        waiting_callers=t.integer("waiting_callers", d.waiting_callers),
        longest_wait=t.duration("longest_wait", d.longest_wait),
        missed_percent=t.number("missed_percent", d.missed_percent),
        min_calls=t.integer("min_calls", d.min_calls),
        callback_due=t.duration("callback_due", d.callback_due),
        clear_after=t.duration("clear_after", d.clear_after),
    )
    t.done()
    return alerts


def _retention(t: Table) -> RetentionSettings:
    d = RetentionSettings()

    def limit(key: str, default: timedelta) -> timedelta:
        value = t.duration(key, default)
        if value < timedelta(days=1):
            raise ConfigError(f'retention.{key}: не меньше суток (например "90d")')
        return value

    settings = RetentionSettings(
        attempts=limit("attempts", d.attempts),
        sms=limit("sms", d.sms),
        missed_calls=limit("missed_calls", d.missed_calls),
        appointments=limit("appointments", d.appointments),
        recalls=limit("recalls", d.recalls),
        contacts=limit("contacts", d.contacts),
        comments=limit("comments", d.comments),
        purge_time=t.time_of_day("purge_time", d.purge_time),
        enabled=t.flag("enabled", d.enabled),
    )
    t.done()
    return settings


def _rehearsal(t: Table) -> RehearsalSettings:
    settings = RehearsalSettings(clinic_time=t.instant("clinic_time"), at_host_time=t.instant("at_host_time"))
    if settings.at_host_time is not None and settings.clinic_time is None:
        raise ConfigError("rehearsal.at_host_time: задаётся только вместе с rehearsal.clinic_time")
    t.done()
    return settings


def parse_settings(raw: Mapping[str, Any], source: Path | None = None) -> Settings:
    root = Table(dict(raw), "config")
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
        insecure_http=s.flag("insecure_http", False),
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

    callbacks = _callbacks(campaigns.table("callbacks"))
    kos = _kos(campaigns.table("kos"))
    defaults = Settings()
    followup = _ivr(campaigns.table("followup"), defaults.followup)
    survey = _ivr(campaigns.table("survey"), defaults.survey)
    waiting = _waiting_list(campaigns.table("waiting_list"))
    campaigns.done()
    sms = _sms(root.table("sms"))
    inbound = _inbound(root.table("inbound"))
    alerts = _alerts(root.table("alerts"))
    webhook = _webhook(root.table("webhook"))
    reasons = _reasons(root.table("wrapup"))
    retention = _retention(root.table("retention"))
    rehearsal = _rehearsal(root.table("rehearsal"))
    root.done()
    settings = Settings(
        service=service,
        ami=ami,
        trunks=trunks,
        clinics=clinics,
        reminders=reminders,
        sms=sms,
        callbacks=callbacks,
        inbound=inbound,
        alerts=alerts,
        kos=kos,
        followup=followup,
        survey=survey,
        waiting_list=waiting,
        webhook=webhook,
        reasons=reasons,
        retention=retention,
        rehearsal=rehearsal,
        source=source,
    )
    refuse_calls_outside_hours(settings)
    return settings
