"""The typed settings: one frozen dataclass per section. Secrets mask their repr."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from dialer.campaigns.callbacks import CallbackPolicy
from dialer.campaigns.messages import DEFAULT_REMINDER_SMS, SmsTemplate
from dialer.campaigns.plan import AttemptPlan, WindowRule, window_rule
from dialer.core.calendar import WorkCalendar
from dialer.core.errors import ConfigError
from dialer.core.hours import DEFAULT_CALLING_HOURS, CallingHours, OpeningHours
from dialer.core.pbx_links import asterisk_of, queue_key
from dialer.core.privacy import mask_url_password
from dialer.core.quality import CRITERIA, QA_GOAL, Criterion
from dialer.core.wrapup import Reasons


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
    log_format: str = "text"  # or "json": one JSON object a line, for a log collector
    # Plain HTTP on a non-loopback address, on purpose (a closed network, a trial): started with a warning.
    insecure_http: bool = False
    # Where Asterisk leaves finished conversation recordings, as this service sees the folder (the dialplan's
    # DIALER_RECORDING_DIR + "/done", seen from outside a chroot or over a shared mount); "" = not collected.
    recordings_spool: str = ""
    # The dialing lease's life: a standby node takes over dialing this long after the leader stopped renewing.
    takeover: timedelta = timedelta(seconds=10)

    @property
    def recordings_dir(self) -> Path:
        """Where the service keeps the clinic's conversation recordings, compressed, one folder per clinic."""
        return self.data_dir / "recordings"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'dialer.db'}"

    @property
    def db_url_shown(self) -> str:
        """The database URL fit for a log line or a message: its password masked."""
        return mask_url_password(self.db_url)

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["database_url"] = mask_url_password(self.database_url)
        return f"ServiceSettings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


DEFAULT_PBX = "main"  # the name of the Asterisk described by [ami]


@dataclass(frozen=True)
class AmiSettings:
    host: str = ""  # empty: use the local Asterisk sandbox
    port: int = 5038
    username: str = "dialer"
    secret: Secret = Secret("")
    ping_interval: float = 10.0
    connect_timeout: float = 5.0
    reconnect_max_delay: float = 30.0
    # A [pbx.<name>]'s queue_log, read like [inbound] queue_log (main's) after its link was down; "" = off.
    queue_log: str = ""

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
class QualitySettings:
    """A clinic's recording of its administrators' conversations and how their calls are scored."""

    record: bool = True  # record every conversation an administrator has through the service's call flows
    announce: bool = True  # tell the patient first: «Разговор может быть записан для контроля качества»
    operators_hear_own: bool = False  # an administrator may play their own calls' recordings
    scorecard: tuple[Criterion, ...] = CRITERIA  # the checklist's eight criteria, with this clinic's points
    qa_goal: int = QA_GOAL  # of 100


@dataclass(frozen=True)
class ClinicSettings:
    id: str
    name: str
    timezone: ZoneInfo
    phone: str = ""
    trunk: str = "main"
    queue: str = "reception"
    pbx: str = "main"  # the Asterisk its calls go through: "main" is [ami], any other a [pbx.<name>]
    calendar: WorkCalendar = WorkCalendar()
    list_build_time: time | None = None  # None: the campaign's own
    dids: tuple[str, ...] = ()  # the numbers patients dial (EXTEN in the inbound context)
    queues: tuple[str, ...] = ()  # the queues administrators answer from; default: (queue,)
    hours: OpeningHours = OpeningHours()
    # When patients may be called at all, every day, in the clinic's zone; every window must lie within them.
    calling_hours: CallingHours = DEFAULT_CALLING_HOURS
    callback_deadline: timedelta | None = None  # None: the campaign's own (15 min)
    # agent_first: ring a free administrator, then the patient; auto: when nobody is free, dial the patient
    # first and put the answered call at the head of the reception queue.
    callback_mode: str = "agent_first"
    supervisor_phone: str = ""  # overload alerts go here by SMS
    kos_per_day: int | None = None  # the senior administrator's KOS plan for this clinic
    quality: QualitySettings = QualitySettings()

    @property
    def answer_queues(self) -> tuple[str, ...]:
        return self.queues or (self.queue,)

    @property
    def live_queues(self) -> tuple[str, ...]:
        """The answer queues as the live queue state keys them: its own Asterisk's, not a namesake's."""
        return tuple(queue_key(q, self.pbx) for q in self.answer_queues)


@dataclass(frozen=True)
class ReminderSettings:
    plan: AttemptPlan
    same_day: AttemptPlan | None
    sms: SmsTemplate = SmsTemplate(DEFAULT_REMINDER_SMS)
    list_build_time: time = time(10, 0)
    ivr_context: str = "dialer-reminder"
    # Voicemails and voice assistants get a short message (clinic, date, time, phone) and count as "machine".
    machines: bool = True


@dataclass(frozen=True)
class KosSettings:
    calls: int = 3  # calls in one round (one day), at least the window's min_gap apart
    moves: int = 3  # times the date moves after a round without reaching the patient; then Отказ
    gap: timedelta = timedelta(days=7)  # how far the date moves
    window: WindowRule = window_rule({"start": "10:00", "end": "19:00", "min_gap": "2h"}, "default")
    pacing: str = "progressive"  # or "predictive": dialer/engine/progressive.py
    lookahead: timedelta = timedelta(seconds=3)  # predictive: administrators likely free within this count
    ratio: float = 1.0  # progressive: patients dialled per free administrator
    drop_cap: float = 3.0  # per cent of answered calls that may find nobody free
    wait_for_admin: timedelta = timedelta(seconds=4)  # how long an answered patient waits before it is a drop
    per_day: int = 30  # the senior administrator's plan, per clinic, unless the clinic says

    @property
    def round_window(self) -> WindowRule:
        """The calling window of one round, with its number of calls."""
        return replace(self.window, attempts=self.calls)


@dataclass(frozen=True)
class IvrCampaignSettings:
    """A post-visit IVR campaign: the follow-up call N days after a visit, or the survey."""

    enabled: bool
    days_after: int
    plan: AttemptPlan
    low_rating: int = 2  # survey: ratings at or below this alert the senior administrator
    machines: bool = False  # as ReminderSettings.machines; on for the follow-up by default


@dataclass(frozen=True)
class WaitingListSettings:
    reply_window: timedelta = timedelta(minutes=15)  # after the SMS, before the call
    sms: SmsTemplate = SmsTemplate("{clinic}: освободилось время {date} в {time}. Записаться: {phone}")


@dataclass(frozen=True)
class WebhookSettings:
    url: str = ""  # empty: no write-back by webhook
    secret: Secret = Secret("")


@dataclass(frozen=True)
class InboundSettings:
    contexts: tuple[str, ...] = ("clinic-inbound",)  # where the trunk delivers calls
    staff_contexts: tuple[str, ...] = ()  # where administrators' phones dial out from
    queue_log: str = ""  # Asterisk's queue_log, read to recover misses after downtime; "" = off


@dataclass(frozen=True)
class AlertSettings:
    waiting_callers: int = 3  # more callers than this waiting at once
    longest_wait: timedelta = timedelta(seconds=90)
    missed_percent: float = 8.0  # missed calls over the last 15 minutes, per cent
    min_calls: int = 10  # ... counted only once there were this many calls
    callback_due: timedelta = timedelta(minutes=3)  # a callback due this soon with nobody free
    clear_after: timedelta = timedelta(minutes=2)  # calm this long before an alert is cleared


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


DAY = timedelta(days=1)


@dataclass(frozen=True)
class RetentionSettings:
    """How long personal data is kept (152-FZ: no longer than its purpose needs), and when the daily purge runs.

    Each limit counts back from now; what is older is deleted, or anonymised where the count still matters
    for the service-level figures (see dialer/storage/retention.py for exactly what each one covers).
    """

    attempts: timedelta = 90 * DAY  # the number dialled for each call, the call log, delivered webhook events
    sms: timedelta = 90 * DAY  # an SMS's text and number, and its delivery log
    missed_calls: timedelta = 365 * DAY  # the caller's number on inbound calls and callback tasks
    appointments: timedelta = 365 * DAY  # after the visit: the visit, its calls, SMS, answers; idle patients
    recalls: timedelta = 365 * DAY  # after a КОС case is closed (Записан or Отказ)
    # contacts («обращения») with their scores and complaints, wrap-ups, closed diary and waiting-list entries
    contacts: timedelta = 365 * DAY
    comments: timedelta = 180 * DAY  # the free text of wrap-up comments, before the contact itself goes
    recordings: timedelta = 180 * DAY  # conversation recordings (the file and its row); a call's score stays
    purge_time: time = time(3, 30)  # the daily purge, in the first clinic's time zone
    enabled: bool = True  # the daily purge in the service; `dialer purge` works either way


@dataclass(frozen=True)
class RehearsalSettings:
    """A demonstration or test run against the local Asterisk sandbox, on a clock set to the clinic's morning.

    The service's clock reads `clinic_time` when the host's clock reads `at_host_time` (default: when the
    process starts), and runs in real seconds from there. Refused with any other Asterisk.
    """

    clinic_time: datetime | None = None
    at_host_time: datetime | None = None

    @property
    def enabled(self) -> bool:
        return self.clinic_time is not None


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
    pbx: Mapping[str, AmiSettings] = field(default_factory=dict)  # more Asterisks besides [ami], by name
    trunks: Mapping[str, TrunkSettings] = field(default_factory=lambda: {"main": TrunkSettings("main")})
    clinics: Mapping[str, ClinicSettings] = field(default_factory=dict)
    reminders: ReminderSettings = ReminderSettings(CUSTOMER_PLAN, SAME_DAY_PLAN)
    sms: SmsSettings = SmsSettings()
    callbacks: CallbackPolicy = CallbackPolicy()
    inbound: InboundSettings = InboundSettings()
    alerts: AlertSettings = AlertSettings()
    kos: KosSettings = KosSettings()
    followup: IvrCampaignSettings = IvrCampaignSettings(
        True,
        2,
        AttemptPlan(
            (window_rule({"start": "11:00", "end": "19:00", "attempts": 2, "min_gap": "2h"}, "default"),)
        ),
        machines=True,
    )
    survey: IvrCampaignSettings = IvrCampaignSettings(
        True, 1, AttemptPlan((window_rule({"start": "12:00", "end": "19:00", "attempts": 1}, "default"),))
    )
    waiting_list: WaitingListSettings = WaitingListSettings()
    reasons: Reasons = Reasons()  # the wrap-up's lists of refusal and call-again reasons
    webhook: WebhookSettings = WebhookSettings()
    retention: RetentionSettings = RetentionSettings()
    rehearsal: RehearsalSettings = RehearsalSettings()
    source: Path | None = None

    def clinic(self, clinic_id: str) -> ClinicSettings:
        try:
            return self.clinics[clinic_id]
        except KeyError:
            raise ConfigError(f"клиника {clinic_id!r} не настроена") from None

    def list_build_time(self, clinic_id: str) -> time:
        return self.clinic(clinic_id).list_build_time or self.reminders.list_build_time

    def clinic_for_call(self, did: str, queue: str, call_id: str = "") -> ClinicSettings | None:
        """The clinic an inbound call belongs to: by the number dialled, else by its queue, else the only one.

        With several Asterisks, among the clinics of the Asterisk the call came through (its `call_id`'s head,
        `east/…`; none for main's): two Asterisks' clinics may well both have a queue called «400»."""
        clinics = list(self.clinics.values())
        if self.pbx and call_id:
            pbx = asterisk_of(call_id, self.pbx, DEFAULT_PBX)
            clinics = [c for c in clinics if c.pbx == pbx]
        for clinic in clinics:
            if did and did in clinic.dids:
                return clinic
        for clinic in clinics:
            if queue and queue in clinic.answer_queues:
                return clinic
        return clinics[0] if len(clinics) == 1 else None

    @property
    def pbxes(self) -> dict[str, AmiSettings]:
        """Every Asterisk the service talks to, by name: [ami] is "main"."""
        return {DEFAULT_PBX: self.ami, **self.pbx}

    def pbx_of(self, clinic_id: str) -> str:
        """The name of the Asterisk a clinic's calls go through; a clinic not configured goes through "main"."""
        clinic = self.clinics.get(clinic_id)
        return clinic.pbx if clinic is not None else DEFAULT_PBX

    def clinics_on(self, pbx: str) -> tuple[str, ...]:
        return tuple(c.id for c in self.clinics.values() if c.pbx == pbx)

    def trunk_for(self, clinic_id: str) -> TrunkSettings:
        return self.trunks[self.clinic(clinic_id).trunk]

    def with_reminder_windows(self, windows: tuple[WindowRule, ...]) -> Settings:
        return replace(
            self, reminders=replace(self.reminders, plan=replace(self.reminders.plan, windows=windows))
        )
