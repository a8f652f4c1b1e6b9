"""One typed Settings object: strict TOML, environment overrides, masked secrets, a safe SMS template."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dialer.campaigns.messages import DEFAULT_REMINDER_SMS, SmsTemplate
from dialer.core.errors import ConfigError
from dialer.settings import (
    CUSTOMER_PLAN,
    SAME_DAY_PLAN,
    RetentionSettings,
    Secret,
    Settings,
    load_settings,
    parse_settings,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "dialer.example.toml"
MSK = ZoneInfo("Europe/Moscow")


def parse(text: str) -> Settings:
    return parse_settings(tomllib.loads(text))


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        parse(text)
    return str(err.value)


# The shipped example and the defaults ---------------------------------------------------------------


def test_the_example_config_loads() -> None:
    s = load_settings(EXAMPLE, env={})
    assert s.source == EXAMPLE.resolve()
    assert s.ami.host == "127.0.0.1" and s.ami.port == 5038
    assert s.ami.secret == Secret("")  # to be filled in: `dialer run` refuses to start until it is
    assert s.service.listen_host == "127.0.0.1" and s.retention == RetentionSettings()
    assert s.trunks["main"].dial == "PJSIP/{number}@trunk"
    assert s.trunks["main"].ring_timeout == timedelta(seconds=30)
    clinic = s.clinic("center")
    assert clinic.timezone == MSK
    assert clinic.phone == "+74951234567"
    assert clinic.calendar.closed_weekdays == frozenset({7})
    assert s.trunk_for("center").name == "main"
    assert s.reminders.plan == CUSTOMER_PLAN
    assert s.reminders.same_day == SAME_DAY_PLAN
    assert s.reminders.list_build_time == time(10, 0)
    assert s.sms.provider == "twilio"


def test_the_defaults_are_the_customers_plan() -> None:
    s = parse("")
    assert [(w.span.start, w.span.end, w.attempts, w.min_gap) for w in s.reminders.plan.windows] == [
        (time(11), time(16), 2, timedelta(hours=2)),
        (time(18), time(20), 1, timedelta(0)),
    ]
    assert s.reminders.plan.max_attempts == 3
    assert s.reminders.sms.text == DEFAULT_REMINDER_SMS
    assert list(s.trunks) == ["main"]
    assert s.clinics == {}
    assert s.ami.use_sandbox
    assert (s.kos.pacing, s.kos.lookahead) == ("progressive", timedelta(seconds=3))
    with pytest.raises(ConfigError, match="nowhere"):
        s.clinic("nowhere")


# Unknown keys, anywhere, are an error that names the key ----------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("servise = {}", "servise"),
        ("[service]\nlisten_prot = 8080", "listen_prot"),
        ("[ami]\nsecrte = 'x'", "secrte"),
        ("[trunks.main]\nmax_chanels = 5", "max_chanels"),
        ("[[clinics]]\nid = 'a'\ntimezone = 'Europe/Moscow'\ntimzone = 'x'", "timzone"),
        ("[campaigns]\nrecals = {}", "recals"),
        ("[campaigns.reminders]\nretry_when_no_digits = true", "retry_when_no_digits"),
        ("[campaigns.reminders.same_day]\nwindow = []", "window"),
        ("[campaigns.reminders]\nwindows = [{ start = '11:00', end = '16:00', attemps = 2 }]", "attemps"),
        ("[sms]\nprovder = 'twilio'", "provder"),
        ("[sms.twilio]\nauth = 'x'", "auth"),
        ("[sms.smsaero]\nkey = 'x'", "key"),
    ],
)
def test_an_unknown_key_anywhere_is_named(toml: str, key: str) -> None:
    assert repr(key) in config_error(toml)


def test_turning_off_the_same_day_call_keeps_its_table_valid() -> None:
    # Flipping `same_day_confirmation = false` in the shipped example leaves its `same_day` table in place;
    # that table must not then be reported as unknown keys.
    s = parse(
        """
        [campaigns.reminders]
        same_day_confirmation = false
        same_day = { windows = [{ start = "09:00", end = "11:00", attempts = 1 }] }
        """
    )
    assert s.reminders.same_day is None


@pytest.mark.parametrize(
    ("window", "where"),
    [
        ('{ start = "16:00", end = "11:00" }', "windows[0]"),
        ('{ start = "11:00", end = "11:00" }', "windows[0]"),
        ('{ start = "11:00", end = "16:00", attempts = -1 }', "windows[0].attempts"),
        ('{ start = "11:00", end = "16:00", attempts = 1.5 }', "windows[0].attempts"),
        ('{ start = "11:00", end = "16:00", attempts = true }', "windows[0].attempts"),
        ('{ start = "11:00", end = "16:00", min_gap = "soon" }', "windows[0].min_gap"),
        ('{ start = "11:00", end = "16:00", min_gap = -5 }', "windows[0].min_gap"),
        ('{ start = "11:00", end = "16:00", min_gap = [1] }', "windows[0].min_gap"),
        ('{ start = "25:00", end = "26:00" }', "windows[0].start"),
        ('{ start = "11:00", end = "4pm" }', "windows[0].end"),
        ('{ end = "16:00" }', "windows[0]"),
    ],
)
def test_a_bad_window_is_refused(window: str, where: str) -> None:
    message = config_error(f"[campaigns.reminders]\nwindows = [{window}]")
    assert where in message


@pytest.mark.parametrize("window", ["5", "true", '"11:00-16:00"', "[1, 2]"])
def test_a_window_that_is_not_a_table_is_a_config_error(window: str) -> None:
    # `windows = [5]` reaches window_rule(), whose `set(raw)` raises TypeError, not ConfigError.
    config_error(f"[campaigns.reminders]\nwindows = [{window}]")


def test_a_window_may_use_toml_time_literals_and_24_00() -> None:
    s = parse('[campaigns.reminders]\nwindows = [{ start = 18:00:00, end = "24:00", attempts = 1 }]')
    (rule,) = s.reminders.plan.windows
    assert rule.span.start == time(18)
    assert rule.span.end > time(23, 59)


def test_sub_plans_and_flags() -> None:
    s = parse(
        """
        [campaigns.reminders]
        retry_when_no_digit = false
        sms_when_not_reached = false
        same_day = { windows = [{ start = "08:00", end = "10:00", attempts = 2, min_gap = "30m" }] }
        """
    )
    assert not s.reminders.plan.retry_when_no_digit
    assert not s.reminders.plan.sms_when_not_reached
    assert s.reminders.same_day is not None
    assert s.reminders.same_day.windows[0].min_gap == timedelta(minutes=30)
    assert "true или false" in config_error("[campaigns.reminders]\nretry_when_no_digit = 'yes'")


# Trunks and clinics ---------------------------------------------------------------------------------


def test_a_trunk_dial_template_needs_a_number_placeholder() -> None:
    assert "trunks.main.dial" in config_error('[trunks.main]\ndial = "PJSIP/trunk"')
    assert "trunks.main.dial" in config_error('[trunks.main]\ndial = "PJSIP/{phone}@trunk"')
    s = parse('[trunks.sip]\ndial = "SIP/{national}@gw"\n[trunks.main]\ndial = "Local/{e164}@out"')
    assert sorted(s.trunks) == ["main", "sip"]


@pytest.mark.parametrize("dial", ["PJSIP/{number}@{host}", "PJSIP/{number}}@trunk", "PJSIP/{number}@trunk{"])
def test_a_trunk_dial_template_that_cannot_be_filled_is_refused_at_load(dial: str) -> None:
    # _trunk only checks that "{number}" occurs; the Originate then fails with KeyError/ValueError on
    # trunk.dial.format(**dial_forms(phone)) at the first call.
    config_error(f'[trunks.main]\ndial = "{dial}"')


def test_trunk_numbers_are_checked() -> None:
    assert "max_channels" in config_error("[trunks.main]\nmax_channels = 0")
    assert "calls_per_second" in config_error("[trunks.main]\ncalls_per_second = -1")
    assert "ring_timeout" in config_error('[trunks.main]\nring_timeout = "long"')


def test_a_clinic_with_an_unknown_trunk() -> None:
    message = config_error("[[clinics]]\nid = 'a'\ntrunk = 'backup'")
    assert "clinics[0].trunk" in message and "backup" in message


@pytest.mark.parametrize("tz", ["Europe/Moskva", "", "MSK+3", "../../etc/passwd"])
def test_a_clinic_with_a_bad_timezone(tz: str) -> None:
    message = config_error(f"[[clinics]]\nid = 'a'\ntimezone = '{tz}'")
    assert "clinics[0]" in message and "timezone" in message


def test_clinic_checks() -> None:
    assert "clinics[0].id" in config_error("[[clinics]]\nname = 'Без id'")
    assert "дважды" in config_error("[[clinics]]\nid = 'a'\n[[clinics]]\nid = 'a'")
    assert "phone" in config_error("[[clinics]]\nid = 'a'\nphone = '+7 701 123 45 67'")
    assert "closed_weekdays" in config_error("[[clinics]]\nid = 'a'\nclosed_weekdays = [0]")
    s = parse(
        "[[clinics]]\nid = 'vvo'\ntimezone = 'Asia/Vladivostok'\nskip_holidays = false\nclosed_weekdays = [6, 7]"
    )
    clinic = s.clinic("vvo")
    assert clinic.timezone == ZoneInfo("Asia/Vladivostok")
    assert not clinic.calendar.skip_holidays
    assert clinic.calendar.closed_weekdays == frozenset({6, 7})
    assert clinic.name == "vvo"


def test_wrong_types_are_named() -> None:
    assert "service.listen_port" in config_error("[service]\nlisten_port = '8080'")
    assert "ami.ping_interval" in config_error("[ami]\nping_interval = 0")
    assert "sms.provider" in config_error("[sms]\nprovider = 'pigeon'")
    assert "campaigns.kos.pacing" in config_error("[campaigns.kos]\npacing = 'fast'")
    assert "service" in config_error("service = 5")


# Environment and files ------------------------------------------------------------------------------


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dialer.toml"
    path.write_text(
        '[service]\ndata_dir = "data"\n[ami]\nhost = "10.0.0.1"\nsecret = "from-file"\n'
        '[sms.twilio]\nauth_token = "file-token"\n',
        encoding="utf-8",
    )
    env = {
        "DIALER_AMI_SECRET": "from-env",
        "DIALER_AMI_HOST": "pbx.local",
        "DIALER_AMI_USERNAME": "robot",
        "DIALER_AMI_PORT": "5039",
        "DIALER_DATABASE_URL": "postgresql+asyncpg://u@db/dialer",
        "DIALER_TWILIO_AUTH_TOKEN": "env-token",
        "DIALER_SMSAERO_API_KEY": "aero-key",
        "DIALER_PUBLIC_URL": "https://dialer.example/",
    }
    s = load_settings(path, env=env)
    assert s.ami.secret.value == "from-env"
    assert (s.ami.host, s.ami.username, s.ami.port) == ("pbx.local", "robot", 5039)
    assert s.service.db_url == "postgresql+asyncpg://u@db/dialer"
    assert s.sms.twilio.auth_token.value == "env-token"
    assert s.sms.smsaero.api_key.value == "aero-key"
    assert s.service.public_url == "https://dialer.example"
    assert s.service.data_dir == tmp_path / "data"  # relative to the config file


def test_dialer_config_names_the_file_and_env_alone_works(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('[ami]\nusername = "from-file"\n', encoding="utf-8")
    assert load_settings(env={"DIALER_CONFIG": str(path)}).ami.username == "from-file"
    s = load_settings(env={"DIALER_AMI_SECRET": "s3", "DIALER_DATA_DIR": "/srv/dialer"})
    assert s.ami.secret.value == "s3"
    assert s.service.data_dir == Path("/srv/dialer")
    assert s.service.db_url == "sqlite+aiosqlite:////srv/dialer/dialer.db"


def test_bad_environment_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DIALER_AMI_PORT"):
        load_settings(env={"DIALER_AMI_PORT": "five"})
    with pytest.raises(ConfigError, match=r"ami\.port"):
        load_settings(env={"DIALER_AMI_PORT": "0"})
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "missing.toml", env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[ami\nhost = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="TOML"):
        load_settings(broken, env={})


# Secrets --------------------------------------------------------------------------------------------


def test_a_secret_never_shows_its_value() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
    assert "hunter2" not in f"{secret!r}"
    assert secret and secret.value == "hunter2"
    assert not Secret("")
    assert repr(Secret("")) == "Secret('')"


def test_settings_repr_hides_every_secret() -> None:
    s = load_settings(
        env={
            "DIALER_AMI_SECRET": "ami-pass",
            "DIALER_TWILIO_AUTH_TOKEN": "tw-tok",
            "DIALER_SMSAERO_API_KEY": "ae",
        }
    )
    text = repr(s)
    for value in ("ami-pass", "tw-tok", "'ae'"):
        assert value not in text
    assert "Secret('****')" in text


# The SMS template ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Ждём вас у врача {doctor} {date}",
        "{clinic}: {service}",
        "{0}",
        "{} {date}",
        "{clinic.__class__}",
        "{phone[0]}",
    ],
    ids=["doctor", "service", "positional", "empty", "attribute", "index"],
)
def test_the_sms_template_refuses_anything_but_clinic_date_time_phone(text: str) -> None:
    with pytest.raises(ConfigError):
        SmsTemplate(text)


def test_the_sms_template_in_the_config_refuses_the_doctor() -> None:
    assert "doctor" in config_error('[campaigns.reminders]\nsms_text = "{clinic}: врач {doctor} ждёт вас"')


@pytest.mark.parametrize(
    "text",
    ["ждём вас {date} в {time", "ждём вас {date:%d.%m}", "ждём {time!x}"],
    ids=["stray-brace", "strftime-spec", "bad-conversion"],
)
def test_a_template_that_cannot_render_is_refused_at_load(text: str) -> None:
    # Only the field names are checked: a stray brace raises ValueError from string.Formatter.parse
    # (not ConfigError), and a bad format spec or conversion passes and fails later, in render().
    with pytest.raises(ConfigError):
        SmsTemplate(text)


MONTHS = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
]


@pytest.mark.parametrize("month", range(1, 13))
def test_the_sms_says_the_month_in_russian(month: int) -> None:
    at = datetime(2026, month, 15, 7, 5, tzinfo=UTC)  # 10:05 in Moscow
    text = SmsTemplate(DEFAULT_REMINDER_SMS).render(
        clinic="Клиника «Улыбка»", at=at, tz=MSK, phone="+7 495 123-45-67"
    )
    assert text == f"Клиника «Улыбка»: ждём вас 15 {MONTHS[month - 1]} в 10:05. Тел. +7 495 123-45-67"


def test_the_sms_uses_the_clinics_local_date() -> None:
    at = datetime(2026, 12, 31, 20, 30, tzinfo=UTC)  # already 1 January in Vladivostok
    text = SmsTemplate("{date} {time}").render(clinic="", at=at, tz=ZoneInfo("Asia/Vladivostok"), phone="")
    assert text == "1 января 06:30"
