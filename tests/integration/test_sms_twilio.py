"""The Twilio adapter against a Twilio-compatible server on a real socket, through the official SDK."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from dialer.core.clock import RehearsalClock
from dialer.core.ports import OutgoingSms, SmsCallbackRejected, SmsError
from dialer.core.sms import SmsStatus, advance, segments
from dialer.engine.sms import SmsRetryLater, SmsSender
from dialer.settings import Secret, SmsSettings, TwilioSettings
from dialer.sms import TwilioGateway, TwilioStatusVerifier, build_gateway, status_callback_url
from dialer.sms.twilio import TwilioHttpClient
from dialer.storage.repository import Storage
from tests.fakes import CallbackReceiver, free_port
from tests.fakes.twilio_server import FakeTwilio
from tests.support import until

ACCOUNT = "AC" + "1" * 32
TOKEN = "twilio-test-token"
SENDER = "+15005550006"
PATIENT = "+79161234567"
REPO = Path(__file__).resolve().parents[2]
CYRILLIC_120 = (
    "Клиника «Здоровье»: приём у терапевта 14.03 в 10:30, каб. 205. "
    "Подтвердите ответом 1, отмена 2. Ждём! Тел.: +74951234567"
)


def settings(api_base: str) -> TwilioSettings:
    return TwilioSettings(ACCOUNT, Secret(TOKEN), from_number=SENDER, api_base=api_base)


def outgoing(
    key: str, body: str = "Напоминаем о приёме завтра в 10:30", to: str = PATIENT, public_url: str = ""
) -> OutgoingSms:
    return OutgoingSms(key, to, body, status_callback_url("twilio", public_url, key))


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(ACCOUNT, TOKEN, step_delay=0.05) as fake:
        yield fake


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver() as server:
        yield server


@pytest.fixture
async def gateway(twilio: FakeTwilio) -> AsyncIterator[TwilioGateway]:
    gw = TwilioGateway(settings(twilio.url))
    yield gw
    await gw.close()


async def test_send_returns_the_sid_and_queued(twilio: FakeTwilio, gateway: TwilioGateway) -> None:
    receipt = await gateway.send(outgoing("reminder:1:sms"))

    assert receipt.provider_id.startswith("SM")
    assert receipt.status is SmsStatus.QUEUED
    [message] = twilio.messages
    assert (message.sid, message.to, message.from_) == (receipt.provider_id, PATIENT, SENDER)
    assert message.status_callback == ""


async def test_delivery_reports_arrive_signed_and_verify(
    twilio: FakeTwilio, gateway: TwilioGateway, receiver: CallbackReceiver
) -> None:
    receipt = await gateway.send(outgoing("reminder:2:sms", public_url=receiver.url))
    verifier = TwilioStatusVerifier(TOKEN, receiver.url)

    reports = await receiver.wait_for(2)

    assert twilio.messages[0].status_callback == f"{receiver.url}/sms/twilio/status"
    updates = [verifier.parse(r.url, r.headers, r.form) for r in reports]
    assert [u.provider_id for u in updates] == [receipt.provider_id] * 2
    assert [u.status for u in updates] == [SmsStatus.SENT, SmsStatus.DELIVERED]
    assert all(u.error == "" for u in updates)


async def test_forged_or_unsigned_reports_are_rejected(
    gateway: TwilioGateway, receiver: CallbackReceiver
) -> None:
    await gateway.send(outgoing("reminder:3:sms", public_url=receiver.url))
    [report] = await receiver.wait_for(1)
    verifier = TwilioStatusVerifier(TOKEN, receiver.url)
    unsigned = {k: v for k, v in report.headers.items() if k.lower() != "x-twilio-signature"}

    with pytest.raises(SmsCallbackRejected):
        verifier.parse(report.url, unsigned, report.form)
    with pytest.raises(SmsCallbackRejected):
        verifier.parse(report.url, {**unsigned, "X-Twilio-Signature": "AAAA"}, report.form)
    with pytest.raises(SmsCallbackRejected):  # genuine signature, altered status
        verifier.parse(report.url, report.headers, {**report.form, "MessageStatus": "delivered"})
    with pytest.raises(SmsCallbackRejected):  # signed with another account's token
        TwilioStatusVerifier("another-token").parse(report.url, report.headers, report.form)
    with pytest.raises(ValueError):  # an empty token would let anyone sign
        TwilioStatusVerifier("")


def test_signature_of_the_public_url_is_accepted_behind_a_proxy() -> None:
    public = "https://clinic.example.ru"
    form = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "To": PATIENT}
    signature = RequestValidator(TOKEN).compute_signature(f"{public}/sms/twilio/status", form)
    seen_by_app = "http://127.0.0.1:8080/sms/twilio/status"

    update = TwilioStatusVerifier(TOKEN, public).parse(seen_by_app, {"x-twilio-signature": signature}, form)

    assert update.status is SmsStatus.DELIVERED
    with pytest.raises(SmsCallbackRejected):  # without the public URL the app cannot rebuild what was signed
        TwilioStatusVerifier(TOKEN).parse(seen_by_app, {"X-Twilio-Signature": signature}, form)


async def test_out_of_order_reports_never_move_delivered_back(
    twilio: FakeTwilio, gateway: TwilioGateway, receiver: CallbackReceiver
) -> None:
    twilio.out_of_order = True
    await gateway.send(outgoing("reminder:4:sms", public_url=receiver.url))
    verifier = TwilioStatusVerifier(TOKEN, receiver.url)

    reports = await receiver.wait_for(2)

    incoming = [verifier.parse(r.url, r.headers, r.form).status for r in reports]
    assert incoming == [SmsStatus.DELIVERED, SmsStatus.SENT]
    current = SmsStatus.QUEUED
    for status in incoming:
        current = advance(current, status)
        assert current is SmsStatus.DELIVERED


async def test_undelivered_report_carries_the_error_code(
    twilio: FakeTwilio, gateway: TwilioGateway, receiver: CallbackReceiver
) -> None:
    receipt = await gateway.send(outgoing("reminder:5:sms", to="+79161234513", public_url=receiver.url))
    verifier = TwilioStatusVerifier(TOKEN, receiver.url)

    reports = await receiver.wait_for(2)

    final = verifier.parse(reports[1].url, reports[1].headers, reports[1].form)
    assert (final.status, final.error) == (SmsStatus.UNDELIVERED, "twilio error 30003")
    assert await gateway.fetch_status(receipt.provider_id) is SmsStatus.UNDELIVERED


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_and_throttling_are_retryable_and_not_retried(
    twilio: FakeTwilio, gateway: TwilioGateway, status: int
) -> None:
    twilio.fail_next(1, status)

    with pytest.raises(SmsError) as caught:
        await gateway.send(outgoing("reminder:6:sms"))

    assert caught.value.retryable
    assert f"HTTP {status}" in str(caught.value)
    assert twilio.create_attempts == 1  # the adapter never repeats a POST by itself
    assert twilio.messages == []


async def test_invalid_numbers_are_not_retryable_and_not_logged(
    twilio: FakeTwilio, gateway: TwilioGateway
) -> None:
    bad = "+0916123456789"
    with pytest.raises(SmsError) as invalid:
        await gateway.send(outgoing("reminder:7:sms", to=bad))
    twilio.not_mobile.add("+74951234567")
    with pytest.raises(SmsError) as landline:
        await gateway.send(outgoing("reminder:8:sms", to="+74951234567"))

    assert not invalid.value.retryable and "21211" in str(invalid.value)
    assert not landline.value.retryable and "21614" in str(landline.value)
    assert bad not in str(invalid.value) and "+74951234567" not in str(landline.value)
    assert twilio.messages == []


async def test_wrong_credentials_are_not_retryable(twilio: FakeTwilio) -> None:
    gw = TwilioGateway(TwilioSettings(ACCOUNT, Secret("wrong"), SENDER, twilio.url))
    try:
        with pytest.raises(SmsError) as caught:
            await gw.send(outgoing("reminder:9:sms"))
    finally:
        await gw.close()
    assert not caught.value.retryable and "HTTP 401" in str(caught.value)


async def test_lost_response_is_found_so_the_message_is_not_sent_twice(
    twilio: FakeTwilio, gateway: TwilioGateway
) -> None:
    since = datetime.now(UTC)
    sms = outgoing("reminder:10:sms")
    twilio.drop_next()

    with pytest.raises(SmsError) as caught:
        await gateway.send(sms)
    found = await gateway.find_sent(sms, since)

    assert caught.value.retryable
    assert twilio.create_attempts == 1
    [message] = twilio.messages
    assert found is not None and found.provider_id == message.sid
    assert found.status is SmsStatus.QUEUED  # still queued: it has no DateSent yet, and is found all the same
    assert await gateway.find_sent(outgoing("other", body="Другой текст"), since) is None
    assert await gateway.find_sent(outgoing("other", to="+79161234500"), since) is None
    assert await gateway.find_sent(sms, since + timedelta(hours=1)) is None


async def test_find_sent_reads_past_the_first_page(twilio: FakeTwilio, gateway: TwilioGateway) -> None:
    since = datetime.now(UTC)
    sms = outgoing("reminder:11:sms")
    first = await gateway.send(sms)
    for n in range(25):  # newer messages to the same patient push it onto the second page
        await gateway.send(outgoing(f"other:{n}", body=f"Сообщение {n}"))

    found = await gateway.find_sent(sms, since)

    assert found is not None and found.provider_id == first.provider_id


async def test_the_sdk_lists_pages_and_filters_by_date_sent(
    twilio: FakeTwilio, gateway: TwilioGateway
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    for n in range(3):
        await gateway.send(outgoing(f"k{n}", body=f"Текст {n}"))
    await gateway.send(outgoing("k-other", to="+79161234500"))
    await twilio.settle()
    await gateway.send(outgoing("k-queued", body="Ещё в очереди"))  # no DateSent yet
    http = TwilioHttpClient(twilio.url, timeout=5)
    client = Client(ACCOUNT, TOKEN, http_client=http)
    try:
        listed = await client.messages.list_async(to=PATIENT, date_sent_after=since, page_size=2)
        later = await client.messages.list_async(to=PATIENT, date_sent_after=since + timedelta(hours=1))
        everything = await client.messages.list_async(page_size=2)
    finally:
        await http.close()
    assert sorted(m.body for m in listed) == ["Текст 0", "Текст 1", "Текст 2"]
    assert later == []
    assert len(everything) == 5


async def test_a_messaging_service_picks_the_sender(twilio: FakeTwilio) -> None:
    gw = TwilioGateway(TwilioSettings(ACCOUNT, Secret(TOKEN), "MG" + "2" * 32, twilio.url))
    try:
        receipt = await gw.send(outgoing("reminder:18:sms"))
    finally:
        await gw.close()
    assert receipt.status is SmsStatus.QUEUED  # Twilio's "accepted"
    assert twilio.messages[0].from_ == "ZDOROVIE"


async def test_cyrillic_body_survives_byte_exact_as_two_parts(
    twilio: FakeTwilio, gateway: TwilioGateway
) -> None:
    assert len(CYRILLIC_120) == 120 and segments(CYRILLIC_120) == 2
    since = datetime.now(UTC)

    receipt = await gateway.send(outgoing("reminder:12:sms", body=CYRILLIC_120))

    [message] = twilio.messages
    assert message.body.encode("utf-8") == CYRILLIC_120.encode("utf-8")
    assert message.resource()["num_segments"] == "2"
    found = await gateway.find_sent(outgoing("reminder:12:sms", body=CYRILLIC_120), since)
    assert found is not None and found.provider_id == receipt.provider_id


async def test_fetch_status_follows_delivery(twilio: FakeTwilio, gateway: TwilioGateway) -> None:
    receipt = await gateway.send(outgoing("reminder:13:sms"))
    assert await gateway.fetch_status(receipt.provider_id) in (SmsStatus.QUEUED, SmsStatus.SENT)

    await twilio.settle()

    assert await gateway.fetch_status(receipt.provider_id) is SmsStatus.DELIVERED
    with pytest.raises(SmsError) as unknown:
        await gateway.fetch_status("SM" + "0" * 32)
    assert not unknown.value.retryable


async def test_unreachable_gateway_is_retryable() -> None:
    gw = TwilioGateway(settings(f"http://127.0.0.1:{free_port()}"), timeout=2)
    try:
        with pytest.raises(SmsError) as sending:
            await gw.send(outgoing("reminder:14:sms"))
        with pytest.raises(SmsError) as finding:
            await gw.find_sent(outgoing("reminder:14:sms"), datetime.now(UTC))
    finally:
        await gw.close()
    assert sending.value.retryable and finding.value.retryable


async def test_no_log_line_carries_the_full_number(
    twilio: FakeTwilio, gateway: TwilioGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    since = datetime.now(UTC)
    sms = outgoing("reminder:15:sms")

    await gateway.send(sms)
    await gateway.find_sent(sms, since)
    twilio.fail_next(1, 500)
    with pytest.raises(SmsError):
        await gateway.send(sms)
    await twilio.settle()

    assert caplog.records, "the adapter and the fake log their work"
    lines = [r.getMessage() for r in caplog.records]
    assert not [line for line in lines if PATIENT in line or sms.body in line]


def test_gateway_is_built_outside_the_loop_and_used_inside() -> None:
    async def use(gw: TwilioGateway, port: int) -> SmsStatus:
        async with FakeTwilio(ACCOUNT, TOKEN, port=port, step_delay=0.01):
            receipt = await gw.send(outgoing("reminder:16:sms"))
            await gw.close()
            return receipt.status

    port = free_port()
    sms_settings = SmsSettings(provider="twilio", twilio=settings(f"http://127.0.0.1:{port}"))
    gw = build_gateway(sms_settings, public_url="")  # no running loop here
    assert isinstance(gw, TwilioGateway)
    assert asyncio.run(use(gw, port)) is SmsStatus.QUEUED


async def test_standalone_server_starts_and_answers() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.twilio_server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--account-sid",
        ACCOUNT,
        "--auth-token",
        TOKEN,
        "--step-delay",
        "0.02",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    gw = TwilioGateway(settings(f"http://127.0.0.1:{port}"))
    try:
        assert process.stdout is not None
        ready = (await asyncio.wait_for(process.stdout.readline(), 15)).decode()
        assert f"http://127.0.0.1:{port}" in ready
        receipt = await gw.send(outgoing("reminder:17:sms"))

        async def delivered() -> bool:
            return await gw.fetch_status(receipt.provider_id) is SmsStatus.DELIVERED

        await until(delivered, "the gateway to report the message delivered", timeout=5, every=0.05)
    finally:
        await gw.close()
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 10)
    log_text = stderr.decode()
    assert receipt.provider_id in log_text and "+7916*****67" in log_text
    assert PATIENT not in log_text
    assert process.returncode == 0


async def test_a_rehearsal_finds_its_lost_message_by_the_gateways_own_time(
    twilio: FakeTwilio, gateway: TwilioGateway, storage: Storage
) -> None:
    """The service's clock plays another hour (a rehearsal, 8 h ahead of the host) while the gateway stamps
    its messages in real time: a send whose answer was lost is still found, not sent a second time."""
    clock = RehearsalClock.reading(datetime.now(UTC) + timedelta(hours=8))
    sender = SmsSender(gateway=gateway, store=storage.sms, clock=clock, callback_url=lambda key: None)
    twilio.drop_next()
    with pytest.raises(SmsRetryLater):
        await sender.send(
            key="sms:reminders:1:text", clinic_id="c1", target_id=None, phone=PATIENT, body="Текст"
        )
    await asyncio.sleep(0.01)  # the retry comes later than the first try, as the due task's backoff makes it
    row = await sender.send(
        key="sms:reminders:1:text", clinic_id="c1", target_id=None, phone=PATIENT, body="Текст"
    )
    [message] = twilio.messages
    assert twilio.create_attempts == 1
    assert row.provider_id == message.sid and row.status is not SmsStatus.PENDING
