"""The README's run command with no settings: the demonstration plays a whole reminder day in front of the
user on the sandbox, SMS included, and the service keeps running until it is stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.asterisk_plugin import SandboxHandle

pytestmark = [pytest.mark.asterisk, pytest.mark.anyhour]


# A whole reminder day, with up to 240 s allowed between two of its lines; it took 106 s on a loaded
# two-core machine.
@pytest.mark.timeout(900)
async def test_the_demo_plays_a_clinic_day_and_keeps_serving(sandbox: SandboxHandle, tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer",
        "run",
        cwd=tmp_path,  # no dialer.toml here: the demonstration
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "DIALER_CONFIG"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while True:
            raw = await asyncio.wait_for(process.stdout.readline(), 240)
            assert raw, "the demo stopped on its own:\n" + "".join(lines)
            lines.append(raw.decode())
            if "Демонстрация закончена" in lines[-1]:
                break
        assert process.returncode is None, "the service must keep running after the demo"
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    text = "".join(lines)
    assert code == 0
    assert "Загружен пример: 12 записей" in text
    assert "подтверждён" in text and "не дозвонились" in text
    assert "SMS: доставлено" in text
    assert "Ошибка" not in text and "Traceback" not in text
