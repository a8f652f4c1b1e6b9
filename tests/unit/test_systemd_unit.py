"""The shipped systemd unit agrees with the shipped example settings: the data folder systemd makes and lets the
service write is the example's data_dir, the recordings spool is writable, and the unit starts `dialer run`.
systemd's own checker reads it where systemd is installed."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "config" / "systemd" / "dialer.service"
EXAMPLE = REPO / "config" / "dialer.example.toml"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT, encoding="utf-8")
    return parser


def test_the_unit_writes_only_where_the_example_settings_keep_their_data() -> None:
    service = unit()["Service"]
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["service"]
    assert Path(example["data_dir"]) == Path("/var/lib") / service["StateDirectory"]
    assert service["ReadWritePaths"].lstrip("-") == str(Path(example["recordings_spool"]).parent)
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert service["User"] == "dialer" and service["Restart"] == "on-failure"
    assert service["ExecStart"].split()[-1] == "run" and "--log-format json" in service["ExecStart"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_systemd_reads_the_unit_and_rates_its_exposure_low() -> None:
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60, check=False
    )
    # The only complaint allowed: the program is not installed on this machine.
    complaints = [line for line in verify.stderr.splitlines() if line and "is not executable" not in line]
    assert complaints == []
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    overall = next(line for line in security.stdout.splitlines() if "Overall exposure level" in line)
    assert float(overall.split(":")[1].split()[0]) <= 2.0, overall
