"""The service's watch over answered calls: TALK_DETECT facts in, a machine's channel redirected out, on a fake
clock; and the settings and dialplan pieces it relies on."""

from __future__ import annotations

import asyncio
import contextlib
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dialer.campaigns.reminders import clinic_prompt
from dialer.core.amd import AmdSettings
from dialer.core.clock import FakeClock
from dialer.core.facts import CallAnswered, CallStarted, DigitPressed, FarEndTalk
from dialer.core.ids import AttemptId
from dialer.engine.machines import MACHINE_CONTEXT, MachineWatch
from dialer.prompts import FIXED_PROMPTS, clinic_prompt_name
from dialer.sandbox import asterisk_conf
from dialer.sandbox.layout import SandboxLayout, repo_config_dir
from dialer.settings import parse_settings

START = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
DIALPLAN = Path(__file__).resolve().parents[2] / "config" / "asterisk" / "extensions_dialer.conf"


def _id(campaign: str, target: int) -> str:
    return str(AttemptId(campaign, target, 1, "inst1"))


async def _watch(campaigns: tuple[str, ...]) -> tuple[FakeClock, MachineWatch, list[tuple[str, str]]]:
    clock = FakeClock(START)
    sent: list[tuple[str, str]] = []

    async def redirect(channel: str, context: str) -> None:
        sent.append((channel, context))

    return clock, MachineWatch(clock=clock, redirect=redirect, campaigns=campaigns), sent


def _answered(watch: MachineWatch, attempt_id: str, channel: str) -> None:
    watch.see(CallStarted(attempt_id, START, channel))
    watch.see(CallAnswered(attempt_id, START))


async def test_a_greeting_that_goes_on_is_redirected_by_the_clock_alone() -> None:
    clock, watch, sent = await _watch(("reminders",))
    task = asyncio.create_task(watch.run())
    try:
        vm, person = _id("reminders", 1), _id("reminders", 2)
        _answered(watch, vm, "PJSIP/trunk-0001")
        _answered(watch, person, "PJSIP/trunk-0002")
        watch.see(FarEndTalk(vm, START + timedelta(seconds=0.6), True))
        watch.see(FarEndTalk(person, START + timedelta(seconds=0.6), True))
        watch.see(FarEndTalk(person, START + timedelta(seconds=1.35), False, 500))
        await clock.run_for(2.0)
        assert sent == []  # 2.6 s of talk is needed; only 1.4 s have passed
        await clock.run_for(2.0)
        assert sent == [("PJSIP/trunk-0001", MACHINE_CONTEXT)]
        await clock.run_for(10.0)
        assert len(sent) == 1  # once, and never the person
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_key_makes_a_person_and_other_campaigns_are_left_alone() -> None:
    clock, watch, sent = await _watch(("reminders",))
    task = asyncio.create_task(watch.run())
    try:
        presser, kos = _id("reminders", 3), _id("kos", 4)
        _answered(watch, presser, "PJSIP/trunk-0003")
        _answered(watch, kos, "PJSIP/trunk-0004")
        for attempt_id in (presser, kos):
            watch.see(FarEndTalk(attempt_id, START + timedelta(seconds=0.5), True))
        watch.see(DigitPressed(presser, "1", START + timedelta(seconds=1.0)))
        await clock.run_for(6.0)
        assert sent == []
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_machines_are_handled_by_default_on_reminders_and_follow_ups_only() -> None:
    settings = parse_settings({})
    assert settings.reminders.machines and settings.followup.machines and not settings.survey.machines
    off = parse_settings(
        tomllib.loads("[campaigns.reminders]\nmachines = false\n[campaigns.survey]\nmachines = true\n")
    )
    assert not off.reminders.machines and off.survey.machines


def _context(name: str) -> str:
    text = DIALPLAN.read_text(encoding="utf-8")
    found = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    assert found is not None, name
    return found.group(1)


def test_the_machine_branch_says_only_the_clinic_the_visit_and_the_phone() -> None:
    branch = _context(MACHINE_CONTEXT)
    assert "DOCTOR" not in branch
    played = re.findall(r"dialer/(machine-[a-z]+)", branch)
    assert played and set(played) <= set(FIXED_PROMPTS)
    assert "WaitForSilence(" in branch.split("Playback")[0]  # the greeting and the beep end first
    assert "UserEvent(DialerMachine," in branch and "DIALER_STAGE=machine" in branch


def test_every_ivr_turns_the_watch_on_at_answer_and_keeps_listening_for_keys() -> None:
    for context in ("dialer-reminder", "dialer-followup", "dialer-survey"):
        body = _context(context)
        watch_line = body.index("Gosub(dialer-machine-watch,s,1)")
        assert watch_line < body.index("Read(DIALER_READ,,1,,1,0.5)"), context
        assert "n(answered),Gosub(dialer-machine-watch" in body, context
    assert f"TALK_DETECT(set)={AmdSettings().talk_detect_silence_ms}" in _context("dialer-machine-watch")


def test_the_service_names_the_clinic_prompt_as_the_prompt_builder_makes_it(tmp_path: Path) -> None:
    assert clinic_prompt(" Клиника «Улыбка» ") == clinic_prompt_name("клиника «улыбка»")
    assert clinic_prompt("Клиника «Улыбка»") != clinic_prompt("Клиника «Радуга»")
    branch = _context(MACHINE_CONTEXT)
    assert "${DIALER_CLINIC_PROMPT}" in branch and "dialer/machine-clinic" in branch


def test_the_sandbox_clinic_loads_what_the_machine_branch_and_the_bench_need(tmp_path: Path) -> None:
    layout = SandboxLayout(base=tmp_path, config_dir=repo_config_dir(), ami_port=5068)
    files = asterisk_conf.render(layout, "s3cret")
    for module in ("func_talkdetect", "app_waitforsilence", "app_amd"):
        assert f"load => {module}.so" in files["modules.conf"], module
    # app_amd declines to load without amd.conf; an empty one keeps its compiled-in defaults (the baseline).
    assert files["amd.conf"].strip() == "[general]"
