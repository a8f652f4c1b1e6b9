"""A reminder window opening while the reception is beyond capacity, on the real Asterisk sandbox: more missed
calls than the service runs at once wait for a free administrator (nobody is on shift), and the reminder calls
still go out at once and end with the patients' answers. Checked on Asterisk's own events: the patients' phones
rang while every callback still waited.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from bench.lib.carrier_numbers import CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime
from tests.asterisk_plugin import SandboxHandle
from tests.inbound_scenario import running_service
from tests.reminder_scenario import run_cli
from tests.support import until, visits_csv

pytestmark = pytest.mark.asterisk

# The carrier trunk's one channel and the `Local/` trunk's ten: the worker runs 2 * 11 + 16 tasks of one kind
# at once, so forty missed calls are more callbacks than it holds.
MISSED = 40
PATIENTS = {
    "V1": (CarrierPatient(FarEnd.PERSON, key="1"), "confirmed"),
    "V2": (CarrierPatient(FarEnd.PERSON, key="2", voice=1), "cancelled"),
}


@pytest.mark.timeout(300)
async def test_a_reminder_window_is_dialled_while_more_callbacks_than_the_worker_holds_wait_for_an_administrator(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    rng = random.Random()
    tomorrow = (clinic.today + timedelta(days=1)).isoformat()
    window = f'{{start="{clinic.hhmmss(-60)}", end="{clinic.hhmmss(900)}", attempts=1}}'
    reminders = f"""
[campaigns.reminders]
windows = [{window}]
list_build_time = "{clinic.hhmmss(-120)}"
same_day_confirmation = false
"""
    async with running_service(
        sandbox, tmp_path, clinic, carrier_channels=1, extra=reminders, database_url=database_url
    ) as svc:
        busy = CarrierPatient(FarEnd.BUSY)
        # Forty people, not fewer: two of them sharing a number would be one callback.
        callers = [busy.number(serial) for serial in rng.sample(range(10000), MISSED)]
        for caller in callers:  # nobody on shift: each gives up in the greeting and waits for a callback
            await svc.call_in("100", caller, patience=1)

        def waiting() -> bool:
            (row,) = svc.home.query(
                "select count(*) as n from due_tasks where campaign = 'callback' and state = 'running'"
            )
            return bool(row["n"] >= 38)

        await until(waiting, "the worker's whole room of callbacks waiting for an administrator", timeout=90)

        serials = rng.sample(range(10000), len(PATIENTS))
        phones = {key: p.number(s) for (key, (p, _)), s in zip(PATIENTS.items(), serials, strict=True)}
        (tmp_path / "visits.csv").write_text(visits_csv(phones, tomorrow), encoding="utf-8")
        code, out, err = await run_cli(
            svc.home, "import", "appointments", str(tmp_path / "visits.csv"), timeout=60
        )
        assert code == 0, out + err

        expected = {key: status for key, (_, status) in PATIENTS.items()}

        def answered() -> dict[str, str]:
            found = {
                r["appointment_id"]: r["reminder_status"]
                for r in svc.home.query("select appointment_id, reminder_status from appointments")
            }
            up = svc.home.query("select 1 from attempts where state in ('dialing', 'answered')")
            return found if found == expected and not up else {}

        await until(answered, "the reminder calls' answers beside the callback backlog", timeout=180)

        # Asterisk rang the patients: a channel for each attempt the service wrote, its id the attempt's.
        placed = {
            r["attempt_id"]
            for r in svc.home.query(
                "select a.attempt_id from attempts a join targets t on t.target_id = a.target_id "
                "where t.campaign = 'reminders' and a.state = 'ended'"
            )
        }
        seen = {f["Uniqueid"] for f in svc.ami.matching(lambda f: f.get("Event") == "Newchannel")}
        assert len(placed) == len(PATIENTS) and placed <= seen, (placed, seen)
        # And every callback still waits: none was rung, none was closed, none lost.
        tasks = svc.tasks()
        assert len(tasks) == MISSED and all(t["state"] == "open" for t in tasks), [dict(t) for t in tasks]
        (calls,) = svc.home.query(
            "select count(*) as n from attempts a join targets t on t.target_id = a.target_id "
            "where t.campaign = 'callback'"
        )
        assert calls["n"] == 0
