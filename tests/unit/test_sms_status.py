"""SMS status rules (forward only, segments) and the gateways' pure parts: status maps, tokens, factory."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.rest.api.v2010.account.message import MessageInstance

from dialer.core.errors import ConfigError
from dialer.core.privacy import scrub_phones
from dialer.core.sms import SmsStatus, advance, segments
from dialer.settings import Secret, SmsAeroSettings, SmsSettings, TwilioSettings
from dialer.sms import (
    SmsAeroGateway,
    SmsAeroStatusVerifier,
    TwilioGateway,
    TwilioStatusVerifier,
    build_gateway,
    build_verifiers,
    status_callback_url,
)
from dialer.sms.smsaero import callback_token, map_smsaero_status, signed_callback_url
from dialer.sms.twilio import TWILIO_STATUSES, map_twilio_status

FINAL = [SmsStatus.DELIVERED, SmsStatus.UNDELIVERED, SmsStatus.FAILED, SmsStatus.SKIPPED]


# Forward only -------------------------------------------------------------------------------------


def test_a_late_sent_never_overwrites_delivered() -> None:
    assert advance(SmsStatus.DELIVERED, SmsStatus.SENT) is SmsStatus.DELIVERED
    assert advance(SmsStatus.SENT, SmsStatus.DELIVERED) is SmsStatus.DELIVERED
    assert advance(SmsStatus.QUEUED, SmsStatus.SENT) is SmsStatus.SENT
    assert advance(SmsStatus.SENT, SmsStatus.QUEUED) is SmsStatus.SENT


@pytest.mark.parametrize("final", FINAL)
@pytest.mark.parametrize("incoming", list(SmsStatus))
def test_a_final_status_is_never_replaced(final: SmsStatus, incoming: SmsStatus) -> None:
    assert advance(final, incoming) is final


def test_queued_and_sending_are_the_same_stage() -> None:
    assert advance(SmsStatus.QUEUED, SmsStatus.SENDING) is SmsStatus.QUEUED
    assert advance(SmsStatus.SENDING, SmsStatus.QUEUED) is SmsStatus.SENDING


_ORDER = [SmsStatus.PENDING, SmsStatus.QUEUED, SmsStatus.SENT, SmsStatus.DELIVERED]


@given(st.lists(st.sampled_from(list(SmsStatus)), max_size=12))
def test_any_order_of_reports_only_moves_forward(reports: list[SmsStatus]) -> None:
    current = SmsStatus.PENDING
    for incoming in reports:
        after = advance(current, incoming)
        if current.is_final:
            assert after is current
        assert after in (current, incoming)
        current = after


# Segments -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "parts"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_gsm_text_takes_160_then_153_per_part(length: int, parts: int) -> None:
    assert segments("a" * length) == parts


@pytest.mark.parametrize(("length", "parts"), [(1, 1), (70, 1), (71, 2), (120, 2), (134, 2), (135, 3)])
def test_cyrillic_takes_70_then_67_per_part(length: int, parts: int) -> None:
    assert segments("ж" * length) == parts


def test_one_cyrillic_letter_switches_the_whole_text_to_ucs2() -> None:
    assert segments("a" * 100) == 1
    assert segments("a" * 99 + "я") == 2


# Status maps --------------------------------------------------------------------------------------


def test_every_status_the_twilio_sdk_knows_is_mapped() -> None:
    sdk_statuses = {v for k, v in vars(MessageInstance.Status).items() if not k.startswith("_")}
    assert sdk_statuses <= set(TWILIO_STATUSES)


@pytest.mark.parametrize(
    ("twilio", "ours"),
    [
        ("accepted", SmsStatus.QUEUED),
        ("scheduled", SmsStatus.QUEUED),
        ("queued", SmsStatus.QUEUED),
        ("sending", SmsStatus.SENDING),
        ("sent", SmsStatus.SENT),
        ("delivered", SmsStatus.DELIVERED),
        ("read", SmsStatus.DELIVERED),
        ("undelivered", SmsStatus.UNDELIVERED),
        ("failed", SmsStatus.FAILED),
        ("canceled", SmsStatus.FAILED),
        ("receiving", SmsStatus.SENDING),
        ("received", SmsStatus.DELIVERED),
        ("DELIVERED", SmsStatus.DELIVERED),
        ("something-new", SmsStatus.QUEUED),
        (None, SmsStatus.QUEUED),
    ],
)
def test_twilio_statuses(twilio: str | None, ours: SmsStatus) -> None:
    assert map_twilio_status(twilio) is ours


@pytest.mark.parametrize(
    ("code", "ours"),
    [
        (0, SmsStatus.QUEUED),
        (1, SmsStatus.DELIVERED),
        (2, SmsStatus.UNDELIVERED),
        (3, SmsStatus.SENT),
        (4, SmsStatus.SENT),
        (6, SmsStatus.FAILED),
        (8, SmsStatus.QUEUED),
        ("1", SmsStatus.DELIVERED),
        (5, SmsStatus.QUEUED),
        ("x", SmsStatus.QUEUED),
    ],
)
def test_smsaero_statuses(code: object, ours: SmsStatus) -> None:
    assert map_smsaero_status(code) is ours


def test_error_texts_lose_the_phone_number() -> None:
    text = scrub_phones("The 'To' number +79161234567 is not a valid phone number.")
    assert "+79161234567" not in text and "+7916*****67" in text


# Callback URLs and tokens -------------------------------------------------------------------------


def test_callback_urls() -> None:
    assert status_callback_url("twilio", "", "k") is None
    assert status_callback_url("none", "https://x.ru", "k") is None
    assert status_callback_url("twilio", "https://x.ru/", "k") == "https://x.ru/sms/twilio/status"
    assert (
        status_callback_url("smsaero", "https://x.ru", "rem:1/2")
        == "https://x.ru/sms/smsaero/status?key=rem%3A1%2F2"
    )
    with pytest.raises(ValueError):
        status_callback_url("smsc", "https://x.ru", "k")


def test_smsaero_token_is_a_32_hex_hmac_of_the_key() -> None:
    token = callback_token("api-key", "reminder:1:sms")
    assert len(token) == 32 and int(token, 16) >= 0
    assert token == callback_token("api-key", "reminder:1:sms")
    assert token != callback_token("api-key", "reminder:2:sms")
    assert token != callback_token("other-key", "reminder:1:sms")


def test_signing_replaces_key_and_token_and_keeps_the_rest() -> None:
    url = signed_callback_url("https://x.ru/sms/smsaero/status?clinic=1&key=forged&token=bad", "k:1", "api")
    query = parse_qs(urlsplit(url).query)
    assert query == {"clinic": ["1"], "key": ["k:1"], "token": [callback_token("api", "k:1")]}
    update = SmsAeroStatusVerifier("api").parse(url, {}, {"id": "42", "status": "1"})
    assert (update.provider_id, update.status) == ("42", SmsStatus.DELIVERED)


# Factory ------------------------------------------------------------------------------------------

TWILIO = TwilioSettings("AC" + "1" * 32, Secret("token"), "+15005550006")
AERO = SmsAeroSettings("clinic@example.ru", Secret("key"))


def test_no_provider_means_no_gateway() -> None:
    assert build_gateway(SmsSettings(provider="none"), "") is None


def test_gateways_are_built_from_settings() -> None:
    assert isinstance(build_gateway(SmsSettings(provider="twilio", twilio=TWILIO), ""), TwilioGateway)
    assert isinstance(build_gateway(SmsSettings(provider="smsaero", smsaero=AERO), ""), SmsAeroGateway)


def test_missing_credentials_are_a_config_error_naming_the_keys() -> None:
    with pytest.raises(ConfigError, match=r"sms\.twilio\.auth_token.*sms\.twilio\.from_number"):
        build_gateway(SmsSettings(provider="twilio", twilio=TwilioSettings("AC1")), "")
    with pytest.raises(ConfigError, match=r"sms\.smsaero\.api_key"):
        build_gateway(SmsSettings(provider="smsaero", smsaero=SmsAeroSettings("a@b.ru")), "")


def test_verifiers_exist_for_every_gateway_with_a_secret() -> None:
    both = build_verifiers(SmsSettings(provider="twilio", twilio=TWILIO, smsaero=AERO), "https://x.ru")
    assert [type(v) for v in both] == [TwilioStatusVerifier, SmsAeroStatusVerifier]
    assert [v.provider for v in both] == ["twilio", "smsaero"]
    assert build_verifiers(SmsSettings(), "") == []
