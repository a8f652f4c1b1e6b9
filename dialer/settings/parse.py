"""Building Settings from the parsed TOML, section by section."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from dialer.campaigns.callbacks import CallbackPolicy, Priority
from dialer.campaigns.messages import DEFAULT_REMINDER_SMS, SmsTemplate
from dialer.campaigns.plan import AttemptPlan, window_rule
from dialer.core.errors import ConfigError
from dialer.core.wrapup import Reasons
from dialer.settings.checks import refuse_calls_outside_hours
from dialer.settings.clinics import parse_clinics, parse_trunks
from dialer.settings.model import (
    CUSTOMER_PLAN,
    SAME_DAY_PLAN,
    AlertSettings,
    AmiSettings,
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
    TwilioSettings,
    WaitingListSettings,
    WebhookSettings,
)
from dialer.settings.pbxes import parse_pbxes, refuse_unknown_pbx
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


def _twilio(t: Table) -> TwilioSettings:
    return t.close(
        TwilioSettings(
            account_sid=t.text("account_sid", ""),
            auth_token=Secret(t.text("auth_token", "")),
            from_number=t.text("from_number", ""),
            api_base=t.text("api_base", ""),
        )
    )


def _smsaero(t: Table) -> SmsAeroSettings:
    return t.close(
        SmsAeroSettings(
            email=t.text("email", ""),
            api_key=Secret(t.text("api_key", "")),
            sign=t.text("sign", "SMS Aero"),
            api_base=t.text("api_base", ""),
        )
    )


def _sms(t: Table) -> SmsSettings:
    provider = t.text("provider", "none")
    if provider not in ("twilio", "smsaero", "none"):
        raise ConfigError(f"sms.provider: twilio, smsaero или none, а не {provider!r}")
    return t.close(
        SmsSettings(
            provider=provider,
            twilio=_twilio(t.table("twilio")),
            smsaero=_smsaero(t.table("smsaero")),
            status_poll_interval=t.duration("status_poll_interval", timedelta(seconds=30)),
        )
    )


def _callbacks(t: Table) -> CallbackPolicy:
    default = CallbackPolicy()
    priority = t.text("priority", default.priority.value)
    if priority not in {p.value for p in Priority}:
        raise ConfigError(f"campaigns.callbacks.priority: deadline или fifo, а не {priority!r}")
    return t.close(
        CallbackPolicy(
            deadline=t.duration("deadline", default.deadline),
            attempts=t.integer("attempts", default.attempts, minimum=1),
            min_gap=t.duration("min_gap", default.min_gap),
            work_for=t.duration("work_for", default.work_for),
            priority=Priority(priority),
            ring_timeout=t.duration("ring_timeout", default.ring_timeout),
            admin_ring=t.duration("admin_ring", default.admin_ring),
            priority_margin=t.duration("priority_margin", default.priority_margin),
            not_reached_sms=SmsTemplate(t.text("not_reached_sms", default.not_reached_sms.text)),
            after_hours_sms=SmsTemplate(t.text("after_hours_sms", default.after_hours_sms.text)),
        )
    )


def _kos(t: Table) -> KosSettings:
    d = KosSettings()
    pacing = t.text("pacing", d.pacing)
    if pacing not in ("predictive", "progressive"):
        raise ConfigError(f"campaigns.kos.pacing: predictive или progressive, а не {pacing!r}")
    window = t.table("window")
    rule = window_rule(window._raw, "campaigns.kos.window") if window._raw else d.window
    window._used.update(window._raw)
    return t.close(
        KosSettings(
            calls=t.integer("calls", d.calls, minimum=1),
            moves=t.integer("moves", d.moves),
            gap=t.duration("gap", d.gap),
            window=rule,
            pacing=pacing,
            lookahead=t.duration("lookahead", d.lookahead),
            ratio=t.number("ratio", d.ratio),
            drop_cap=t.number("drop_cap", d.drop_cap),
            wait_for_admin=t.duration("wait_for_admin", d.wait_for_admin),
            per_day=t.integer("per_day", d.per_day),
        )
    )


def _ivr(t: Table, default: IvrCampaignSettings) -> IvrCampaignSettings:
    return t.close(
        IvrCampaignSettings(
            enabled=t.flag("enabled", default.enabled),
            days_after=t.integer("days_after", default.days_after),
            plan=_plan(t, default.plan),
            low_rating=t.integer("low_rating", default.low_rating),
            machines=t.flag("machines", default.machines),
        )
    )


def _waiting_list(t: Table) -> WaitingListSettings:
    d = WaitingListSettings()
    return t.close(
        WaitingListSettings(
            reply_window=t.duration("reply_window", d.reply_window),
            sms=SmsTemplate(t.text("sms_text", d.sms.text)),
        )
    )


def _reasons(t: Table) -> Reasons:
    d = Reasons()
    refusal = t.texts("refusal_reasons") or d.refusal
    call_again = t.texts("call_again_reasons") or d.call_again
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
    return t.close(
        InboundSettings(
            contexts=t.texts("contexts") or InboundSettings().contexts,
            staff_contexts=t.texts("staff_contexts"),
            queue_log=t.text("queue_log", ""),
        )
    )


def _alerts(t: Table) -> AlertSettings:
    d = AlertSettings()
    return t.close(
        AlertSettings(
            waiting_callers=t.integer("waiting_callers", d.waiting_callers),
            longest_wait=t.duration("longest_wait", d.longest_wait),
            missed_percent=t.number("missed_percent", d.missed_percent),
            min_calls=t.integer("min_calls", d.min_calls),
            callback_due=t.duration("callback_due", d.callback_due),
            clear_after=t.duration("clear_after", d.clear_after),
        )
    )


def _retention(t: Table) -> RetentionSettings:
    d = RetentionSettings()

    def limit(key: str, default: timedelta) -> timedelta:
        value = t.duration(key, default)
        if value < timedelta(days=1):
            raise ConfigError(f'retention.{key}: не меньше суток (например "90d")')
        return value

    return t.close(
        RetentionSettings(
            attempts=limit("attempts", d.attempts),
            sms=limit("sms", d.sms),
            missed_calls=limit("missed_calls", d.missed_calls),
            appointments=limit("appointments", d.appointments),
            recalls=limit("recalls", d.recalls),
            contacts=limit("contacts", d.contacts),
            comments=limit("comments", d.comments),
            recordings=limit("recordings", d.recordings),
            purge_time=t.time_of_day("purge_time", d.purge_time),
            enabled=t.flag("enabled", d.enabled),
        )
    )


def _rehearsal(t: Table) -> RehearsalSettings:
    settings = RehearsalSettings(clinic_time=t.instant("clinic_time"), at_host_time=t.instant("at_host_time"))
    if settings.at_host_time is not None and settings.clinic_time is None:
        raise ConfigError("rehearsal.at_host_time: задаётся только вместе с rehearsal.clinic_time")
    t.done()
    return settings


def _service(t: Table, base: Path) -> ServiceSettings:
    data_dir = Path(t.text("data_dir", "var"))
    return t.close(
        ServiceSettings(
            data_dir=data_dir if data_dir.is_absolute() else base / data_dir,
            database_url=t.text("database_url", ""),
            listen_host=t.text("listen_host", "127.0.0.1"),
            listen_port=t.integer("listen_port", 8080, minimum=1),
            public_url=t.text("public_url", "").rstrip("/"),
            log_level=t.text("log_level", "INFO").upper(),
            log_format=_log_format(t.text("log_format", "text")),
            insecure_http=t.flag("insecure_http", False),
            recordings_spool=t.text("recordings_spool", ""),
            takeover=_takeover(t.duration("takeover", timedelta(seconds=10))),
        )
    )


TAKEOVER_RANGE = (timedelta(seconds=2), timedelta(minutes=5))


def _takeover(value: timedelta) -> timedelta:
    """Shorter than 2 s, a busy database's pause looks like a dead leader; longer than 5 min, a dead
    leader's missed calls wait too long for their callbacks."""
    low, high = TAKEOVER_RANGE
    if not low <= value <= high:
        raise ConfigError(f"service.takeover: от 2 с до 5 мин, а не {value.total_seconds():g} с")
    return value


LOG_FORMATS = ("text", "json")


def _log_format(name: str) -> str:
    if name not in LOG_FORMATS:
        raise ConfigError(f"service.log_format: text или json, а не {name!r}")
    return name


def _ami(t: Table, where: str = "ami") -> AmiSettings:
    ami = t.close(
        AmiSettings(
            host=t.text("host", ""),
            port=t.integer("port", 5038, minimum=1),
            username=t.text("username", "dialer"),
            secret=Secret(t.text("secret", "")),
            ping_interval=t.number("ping_interval", 10.0),
            connect_timeout=t.number("connect_timeout", 5.0),
            reconnect_max_delay=t.number("reconnect_max_delay", 30.0),
        )
    )
    if ami.secret.value.upper().startswith("CHANGE_ME"):
        raise ConfigError(
            f"{where}.secret: замените пример из manager_dialer.conf на свой длинный случайный пароль"
        )
    return ami


def _reminders(r: Table) -> ReminderSettings:
    same_day_table = r.table("same_day")
    same_day_plan = _plan(same_day_table, SAME_DAY_PLAN)  # checked even when switched off
    same_day = same_day_plan if r.flag("same_day_confirmation", True) else None
    same_day_table.done()
    return r.close(
        ReminderSettings(
            plan=_plan(r, CUSTOMER_PLAN),
            same_day=same_day,
            sms=SmsTemplate(r.text("sms_text", DEFAULT_REMINDER_SMS)),
            list_build_time=r.time_of_day("list_build_time", time(10, 0)),
            ivr_context=r.text("ivr_context", "dialer-reminder"),
            machines=r.flag("machines", True),
        )
    )


def parse_settings(raw: Mapping[str, Any], source: Path | None = None) -> Settings:
    root = Table(dict(raw), "config")
    service = _service(root.table("service"), source.parent if source else Path.cwd())
    ami = _ami(root.table("ami"))
    pbx = parse_pbxes(root.table("pbx"), ami, _ami)
    trunks = parse_trunks(root.table("trunks"))
    clinics = parse_clinics(root.items("clinics"), trunks)
    campaigns = root.table("campaigns")
    reminders = _reminders(campaigns.table("reminders"))
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
        pbx=pbx,
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
    refuse_unknown_pbx(settings)
    return settings
