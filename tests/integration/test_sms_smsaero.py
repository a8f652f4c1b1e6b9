"""The SMS Aero adapter against an SMS Aero v2-compatible server on a real socket."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from dialer.app import Runtime, build_web_app, open_runtime
from dialer.core.ports import OutgoingSms, SmsCallbackRejected, SmsError
from dialer.core.sms import SmsStatus, advance, segments
from dialer.settings import Secret, SmsAeroSettings, SmsSettings, load_settings
from dialer.sms import SmsAeroGateway, SmsAeroStatusVerifier, build_gateway, status_callback_url
from tests.fakes import CallbackReceiver, free_port
from tests.fakes.smsaero_server import FakeSmsAero
from tests.support import DialerHome, until

EMAIL = "clinic@example.ru"
API_KEY = "smsaero-test-key"
PATIENT = "+79161234567"
REPO = Path(__file__).resolve().parents[2]
CYRILLIC_120 = (
    "Клиника «Здоровье»: приём у терапевта 14.03 в 10:30, каб. 205. "
    "Подтвердите ответом 1, отмена 2. Ждём! Тел.: +74951234567"
)


def settings(api_base: str, api_key: str = API_KEY) -> SmsAeroSettings:
    return SmsAeroSettings(email=EMAIL, api_key=Secret(api_key), sign="Zdorovie", api_base=api_base)


def outgoing(
    key: str, body: str = "Напоминаем о приёме завтра в 10:30", to: str = PATIENT, public_url: str = ""
) -> OutgoingSms:
    return OutgoingSms(key, to, body, status_callback_url("smsaero", public_url, key))


@pytest.fixture
async def aero() -> AsyncIterator[FakeSmsAero]:
    async with FakeSmsAero(EMAIL, API_KEY, step_delay=0.05) as fake:
        yield fake


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver() as server:
        yield server


@pytest.fixture
async def gateway(aero: FakeSmsAero) -> AsyncIterator[SmsAeroGateway]:
    gw = SmsAeroGateway(settings(f"{aero.url}/v2"))
    yield gw
    await gw.close()


async def test_send_returns_the_id_and_queued(aero: FakeSmsAero, gateway: SmsAeroGateway) -> None:
    receipt = await gateway.send(outgoing("reminder:1:sms"))

    [message] = aero.messages
    assert receipt.provider_id == str(message.id)
    assert receipt.status is SmsStatus.QUEUED
    assert (message.number, message.sign) == ("79161234567", "Zdorovie")  # digits, no "+"


async def test_delivery_reports_carry_a_token_and_verify(
    aero: FakeSmsAero, gateway: SmsAeroGateway, receiver: CallbackReceiver
) -> None:
    receipt = await gateway.send(outgoing("reminder:2:sms", public_url=receiver.url))
    verifier = SmsAeroStatusVerifier(API_KEY)

    reports = await receiver.wait_for(2)

    query = parse_qs(urlsplit(aero.messages[0].callback_url).query)
    assert query["key"] == ["reminder:2:sms"] and len(query["token"][0]) == 32
    updates = [verifier.parse(r.url, r.headers, r.form) for r in reports]
    assert [u.provider_id for u in updates] == [receipt.provider_id] * 2
    assert [u.status for u in updates] == [SmsStatus.SENT, SmsStatus.DELIVERED]


async def test_reports_with_a_wrong_or_missing_token_are_rejected(
    gateway: SmsAeroGateway, receiver: CallbackReceiver
) -> None:
    await gateway.send(outgoing("reminder:3:sms", public_url=receiver.url))
    [report] = await receiver.wait_for(1)
    verifier = SmsAeroStatusVerifier(API_KEY)
    parts = urlsplit(report.url)
    query = parse_qs(parts.query)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    other_key = f"{base}?{urlencode({'key': 'reminder:4:sms', 'token': query['token'][0]})}"

    with pytest.raises(SmsCallbackRejected):  # no token at all
        verifier.parse(f"{base}?key=reminder:3:sms", {}, report.form)
    with pytest.raises(SmsCallbackRejected):  # a token for another message
        verifier.parse(other_key, {}, report.form)
    with pytest.raises(SmsCallbackRejected):  # a token made with another key
        SmsAeroStatusVerifier("another-key").parse(report.url, {}, report.form)
    with pytest.raises(SmsCallbackRejected):
        verifier.parse(report.url, {}, {"status": "1"})
    assert query["key"] == ["reminder:3:sms"]
    with pytest.raises(ValueError):
        SmsAeroStatusVerifier("")


async def test_out_of_order_reports_never_move_delivered_back(
    aero: FakeSmsAero, gateway: SmsAeroGateway, receiver: CallbackReceiver
) -> None:
    aero.out_of_order = True
    await gateway.send(outgoing("reminder:5:sms", public_url=receiver.url))
    verifier = SmsAeroStatusVerifier(API_KEY)

    reports = await receiver.wait_for(2)

    incoming = [verifier.parse(r.url, r.headers, r.form).status for r in reports]
    assert incoming == [SmsStatus.DELIVERED, SmsStatus.SENT]
    current = SmsStatus.QUEUED
    for status in incoming:
        current = advance(current, status)
        assert current is SmsStatus.DELIVERED


async def test_undelivered_report_says_why(
    aero: FakeSmsAero, gateway: SmsAeroGateway, receiver: CallbackReceiver
) -> None:
    receipt = await gateway.send(outgoing("reminder:6:sms", to="+79161234513", public_url=receiver.url))

    reports = await receiver.wait_for(2)

    final = SmsAeroStatusVerifier(API_KEY).parse(reports[1].url, reports[1].headers, reports[1].form)
    assert final.status is SmsStatus.UNDELIVERED and final.error.startswith("smsaero status 2")
    assert await gateway.fetch_status(receipt.provider_id) is SmsStatus.UNDELIVERED


@pytest.mark.parametrize("status", [500, 502, 429])
async def test_server_errors_and_throttling_are_retryable_and_not_retried(
    aero: FakeSmsAero, gateway: SmsAeroGateway, status: int
) -> None:
    aero.fail_next(1, status)

    with pytest.raises(SmsError) as caught:
        await gateway.send(outgoing("reminder:7:sms"))

    assert caught.value.retryable
    assert aero.create_attempts == 1 and aero.messages == []


async def test_invalid_number_and_bad_credentials_are_not_retryable(aero: FakeSmsAero) -> None:
    good = SmsAeroGateway(settings(f"{aero.url}/v2"))
    wrong = SmsAeroGateway(settings(f"{aero.url}/v2", api_key="wrong"))
    try:
        with pytest.raises(SmsError) as invalid:
            await good.send(outgoing("reminder:8:sms", to="+7916"))
        with pytest.raises(SmsError) as denied:
            await wrong.send(outgoing("reminder:9:sms"))
    finally:
        await good.close()
        await wrong.close()
    assert not invalid.value.retryable and "HTTP 400" in str(invalid.value)
    assert not denied.value.retryable and "HTTP 401" in str(denied.value)
    assert aero.messages == []


async def test_lost_response_is_found_so_the_message_is_not_sent_twice(
    aero: FakeSmsAero, gateway: SmsAeroGateway
) -> None:
    since = datetime.now(UTC)
    sms = outgoing("reminder:10:sms", body=CYRILLIC_120)
    aero.drop_next()

    with pytest.raises(SmsError) as caught:
        await gateway.send(sms)
    found = await gateway.find_sent(sms, since)

    assert caught.value.retryable
    assert aero.create_attempts == 1
    [message] = aero.messages
    assert found is not None and found.provider_id == str(message.id)
    assert await gateway.find_sent(outgoing("x", body=CYRILLIC_120[:-1]), since) is None  # exact text only
    assert await gateway.find_sent(outgoing("x", to="+79161234500"), since) is None
    assert await gateway.find_sent(sms, since + timedelta(hours=1)) is None


async def test_find_sent_reads_past_the_first_page(aero: FakeSmsAero, gateway: SmsAeroGateway) -> None:
    aero.page_size = 5
    since = datetime.now(UTC)
    sms = outgoing("reminder:11:sms", body="Приём 14.03")
    first = await gateway.send(sms)
    for n in range(12):  # the fake's text filter is a substring match, as a search box would be
        await gateway.send(outgoing(f"other:{n}", body=f"Приём 14.03, уточнение {n}"))

    found = await gateway.find_sent(sms, since)

    assert found is not None and found.provider_id == first.provider_id


async def test_cyrillic_body_survives_byte_exact_as_two_parts(
    aero: FakeSmsAero, gateway: SmsAeroGateway
) -> None:
    assert len(CYRILLIC_120) == 120 and segments(CYRILLIC_120) == 2

    await gateway.send(outgoing("reminder:12:sms", body=CYRILLIC_120))

    assert aero.messages[0].text.encode("utf-8") == CYRILLIC_120.encode("utf-8")


async def test_fetch_status_follows_delivery(aero: FakeSmsAero, gateway: SmsAeroGateway) -> None:
    receipt = await gateway.send(outgoing("reminder:13:sms"))
    assert await gateway.fetch_status(receipt.provider_id) in (SmsStatus.QUEUED, SmsStatus.SENT)

    await aero.settle()

    assert await gateway.fetch_status(receipt.provider_id) is SmsStatus.DELIVERED
    with pytest.raises(SmsError) as unknown:
        await gateway.fetch_status("999")
    assert not unknown.value.retryable


async def test_unreachable_gateway_is_retryable() -> None:
    gw = SmsAeroGateway(settings(f"http://127.0.0.1:{free_port()}/v2"), timeout=2)
    try:
        with pytest.raises(SmsError) as caught:
            await gw.send(outgoing("reminder:14:sms"))
    finally:
        await gw.close()
    assert caught.value.retryable


async def test_no_log_line_carries_the_full_number(
    aero: FakeSmsAero, gateway: SmsAeroGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    since = datetime.now(UTC)
    sms = outgoing("reminder:15:sms")

    await gateway.send(sms)
    await gateway.find_sent(sms, since)
    await aero.settle()

    assert caplog.records
    assert not [r.getMessage() for r in caplog.records if "9161234567" in r.getMessage()]


def test_gateway_is_built_outside_the_loop() -> None:
    gw = build_gateway(SmsSettings(provider="smsaero", smsaero=settings("")), public_url="https://x.example")
    assert isinstance(gw, SmsAeroGateway)
    asyncio.run(gw.close())  # nothing was opened; closing is still fine


async def test_standalone_server_starts_and_answers() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.smsaero_server",
        "--port",
        str(port),
        "--email",
        EMAIL,
        "--api-key",
        API_KEY,
        "--step-delay",
        "0.02",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    gw = SmsAeroGateway(settings(f"http://127.0.0.1:{port}/v2"))
    try:
        assert process.stdout is not None
        ready = (await asyncio.wait_for(process.stdout.readline(), 15)).decode()
        assert f"http://127.0.0.1:{port}/v2" in ready
        receipt = await gw.send(outgoing("reminder:16:sms"))

        async def delivered() -> bool:
            return await gw.fetch_status(receipt.provider_id) is SmsStatus.DELIVERED

        await until(delivered, "the gateway to report the message delivered", timeout=5, every=0.05)
    finally:
        await gw.close()
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 10)
    assert "+7916*****67" in stderr.decode() and "79161234567" not in stderr.decode()
    assert process.returncode == 0


# Delivery reports through the real service: its web app, its SMS sender, its database ------------------------


@pytest.fixture
async def service(tmp_path: Path, aero: FakeSmsAero, database_url: str) -> AsyncIterator[Runtime]:
    port = free_port()
    home = DialerHome(tmp_path, database_url=database_url)
    home.write(
        f"""
[service]
data_dir = "var"
public_url = "http://127.0.0.1:{port}"
[[clinics]]
id = "c1"
name = "Клиника"
timezone = "Europe/Moscow"
[sms]
provider = "smsaero"
[sms.smsaero]
email = "{EMAIL}"
api_key = "{API_KEY}"
api_base = "{aero.url}/v2"
"""
    )
    async with open_runtime(load_settings(home.config, env={})) as rt:
        server = TestServer(build_web_app(rt), host="127.0.0.1", port=port)
        await server.start_server()
        try:
            yield rt
        finally:
            await server.close()


async def send(rt: Runtime, key: str, phone: str = PATIENT) -> str:
    row = await rt.sms.send(key=key, clinic_id="c1", target_id=None, phone=phone, body="Клиника: ждём вас")
    assert row.provider_id is not None
    return row.provider_id


async def status_of(rt: Runtime, key: str) -> SmsStatus:
    row = await rt.storage.sms.get(key)
    assert row is not None
    return row.status


async def post(url: str, form: Mapping[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=dict(form)) as response:
        return response.status


def with_query(url: str, **query: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


async def test_a_report_counts_only_for_the_message_its_url_was_issued_for(
    aero: FakeSmsAero, service: Runtime
) -> None:
    first_id = await send(service, "reminders:1:sms")
    await aero.settle()  # its reports came back through the service: delivered
    assert await status_of(service, "reminders:1:sms") is SmsStatus.DELIVERED
    assert [c.http_status for c in aero.callbacks] == [204, 204]
    aero.step_delay = 3600  # the second message stays with the operator: queued
    second_id = await send(service, "reminders:2:sms", phone="+79161234568")
    first_url = aero.callbacks[0].url
    second_url = aero.messages[1].callback_url
    first_token = parse_qs(urlsplit(first_url).query)["token"][0]

    # One message's report URL, with the next message's id (ids are sequential): refused, nothing changes.
    assert await post(first_url, {"id": second_id, "status": "1"}) == 403
    # The second message's key with the first one's token; no token at all.
    assert (
        await post(
            with_query(first_url, key="reminders:2:sms", token=first_token), {"id": second_id, "status": "2"}
        )
        == 403
    )
    assert await post(with_query(first_url, key="reminders:2:sms"), {"id": second_id, "status": "2"}) == 403
    assert await status_of(service, "reminders:2:sms") is SmsStatus.QUEUED

    # A replayed older report never moves a status back; a replayed final one changes nothing either.
    for report in aero.callbacks[:2]:
        assert await post(report.url, report.form) == 204
    assert await post(first_url, {"id": first_id, "status": "2"}) == 204
    assert await status_of(service, "reminders:1:sms") is SmsStatus.DELIVERED

    # The second message's own report, from its own URL, still counts.
    assert await post(second_url, {"id": second_id, "status": "3"}) == 204
    assert await status_of(service, "reminders:2:sms") is SmsStatus.SENT
