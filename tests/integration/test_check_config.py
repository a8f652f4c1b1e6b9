"""`dialer check-config` against the real peers: the sandbox's Asterisk (a login with the right secret and one
with a wrong one), a real database (a SQLite file, missing; PostgreSQL with --db=postgresql, a database with
nothing in it; then made by `dialer db upgrade`), and the local Twilio-compatible and SMS Aero servers. Nobody
is called and nothing is sent: checked on the fakes' own counters and on the lines printed."""

from __future__ import annotations

import asyncio
import io
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench.lib.clinic import ClinicTime
from bench.lib.service import free_port, service_env
from dialer.cli.check_config import check_config
from dialer.cli.reports import upgrade_db
from dialer.core.dialplan_version import dialplan_version
from dialer.sandbox.layout import ENV_CONFIG_DIR
from dialer.settings import load_settings
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.smsaero_server import FakeSmsAero
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.service_toml import SIM_TRUNK, clinic_entry, service_toml, trunk_table

pytestmark = [pytest.mark.asterisk]

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "asterisk"
SHIPPED_VERSION = dialplan_version((SHIPPED / "extensions_dialer.conf").read_text(encoding="utf-8"))


def write_config(path: Path, sandbox: SandboxHandle, twilio: FakeTwilio, database_url: str) -> Path:
    clinic = ClinicTime.morning()
    toml = service_toml(
        sandbox,
        twilio,
        free_port(),
        clinic,
        trunk_table(SIM_TRUNK),
        clinic_entry(clinic, SIM_TRUNK),
        database_url=database_url,
    )
    config = path / "dialer.toml"
    config.write_text(toml, encoding="utf-8")
    return config


def sqlite_file(database_url: str) -> Path | None:
    url = make_url(database_url)
    return Path(url.database or "") if url.get_backend_name() == "sqlite" else None


async def tables(database_url: str) -> set[str]:
    """The tables in the database (on SQLite, one whose file is there: opening a missing one would make it)."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def is_unmade(database_url: str) -> bool:
    """Nothing made yet: no SQLite file at all; on PostgreSQL, not one table."""
    file = sqlite_file(database_url)
    if file is not None:
        return not file.exists()
    return await tables(database_url) == set()


async def not_made_yet(database_url: str) -> None:
    """The database as it is before `dialer db upgrade`: no SQLite file; on PostgreSQL, the database its
    administrator made, with nothing in it (the test's own is a migrated copy: emptied here)."""
    if sqlite_file(database_url) is None:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("drop schema public cascade"))
                await conn.execute(text("create schema public"))
        finally:
            await engine.dispose()
    assert await is_unmade(database_url)


async def checked(config: Path) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = await check_config(config, out)
    return code, out.getvalue().splitlines()


async def test_every_check_passes_once_the_database_is_made_and_nobody_is_called(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio:
        config = write_config(tmp_path, sandbox, twilio, database_url)
        await not_made_yet(database_url)
        code, lines = await checked(config)
        assert code == 2
        assert lines[0].startswith("ok: настройки: ")
        assert lines[1].startswith(
            f"ok: ami: {sandbox.host}:{sandbox.port} (пользователь {sandbox.username})"
        )
        assert lines[2] == f"ok: диалплан: extensions_dialer.conf версии {SHIPPED_VERSION}, как у сервиса"
        assert lines[3].startswith("error: база данных: ") and "dialer db upgrade" in lines[3]
        assert await is_unmade(database_url)  # checked, not made
        assert lines[4].startswith("ok: sms (twilio): Twilio: учётная запись")

        await upgrade_db(load_settings(config), io.StringIO())
        code, lines = await checked(config)
        assert code == 0, lines
        assert [line.split(":")[0] for line in lines] == ["ok"] * 5
        assert "схема актуальна" in lines[3] and "alembic_version" in await tables(database_url)
        if sqlite_file(database_url) is None:  # what PostgreSQL's connections leave a node of the service
            room = (
                "соединений: сервер принимает 197, занято "  # the test cluster's 200, 3 kept for superusers
            )
            assert room in lines[3] and lines[3].endswith(", узлу нужно до 25")
        else:
            assert "соединений" not in lines[3]
        assert twilio.messages == [] and twilio.create_attempts == 0
        assert sandbox.secret not in "\n".join(lines) and DEFAULT_AUTH_TOKEN not in "\n".join(lines)


async def test_a_wrong_ami_secret_and_a_wrong_twilio_token_each_fail_with_their_reason(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio:
        wrong = replace(sandbox, secret="not-the-secret")
        config = write_config(tmp_path, wrong, twilio, database_url)
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace(DEFAULT_AUTH_TOKEN, "wrong-token"), encoding="utf-8")
        code, lines = await checked(config)
        assert code == 2
        ami = next(line for line in lines if ": ami: " in line)
        assert ami.startswith("error: ami: ") and "Asterisk отклонил вход: Authentication failed" in ami
        sms = next(line for line in lines if ": sms (twilio): " in line)
        assert sms == "error: sms (twilio): Twilio: неверный account_sid или auth_token (HTTP 401)"
        assert "not-the-secret" not in "\n".join(lines) and "wrong-token" not in "\n".join(lines)


async def test_a_closed_ami_port_bad_settings_and_smsaero_credentials(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    closed = replace(sandbox, port=free_port())
    async with (
        FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio,
        FakeSmsAero("clinic@example.ru", "aero-key") as aero,
    ):
        config = write_config(tmp_path, closed, twilio, database_url)
        code, lines = await checked(config)
        assert (
            code == 2 and f"error: ami: 127.0.0.1:{closed.port}" in lines[1] and "нет соединения" in lines[1]
        )
        assert lines[2].startswith("error: диалплан: ") and "нет соединения" in lines[2]

        text = config.read_text(encoding="utf-8").split("[sms]")[0]
        for key, expected in (
            ("aero-key", "ok: sms (smsaero): SMS Aero: вход выполнен"),
            ("bad", "error: sms (smsaero): SMS Aero: неверный email или api_key"),
        ):
            aero_section = f"""[sms]
provider = "smsaero"
[sms.smsaero]
email = "clinic@example.ru"
api_key = "{key}"
api_base = "{aero.url}/v2"
"""
            config.write_text(text + aero_section, encoding="utf-8")
            _, lines = await checked(config)
            assert lines[4].startswith(expected), lines
        assert aero.messages == []

        config.write_text(text + "[service.extra]\nunknown = 1\n", encoding="utf-8")
        code, lines = await checked(config)
        assert code == 2 and lines[0].startswith("error: настройки: ") and len(lines) == 1


async def test_the_command_line_prints_the_lines_and_exits_non_zero(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio:
        config = write_config(tmp_path, sandbox, twilio, database_url)
        await not_made_yet(database_url)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dialer",
            "--config",
            str(config),
            "check-config",
            stdout=asyncio.subprocess.PIPE,
            env=service_env(),
        )
        out, _ = await process.communicate()
        assert process.returncode == 2
        assert [line.split(":")[0] for line in out.decode().splitlines()] == ["ok", "ok", "ok", "error", "ok"]


async def test_a_pbx_running_another_version_of_the_dialplan_fails_with_what_to_do(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service upgraded, the PBX not: the service's copy of the dialplan (here one with a line changed) is
    not the one the sandbox's Asterisk has loaded."""
    newer = tmp_path / "config"
    (newer / "asterisk").mkdir(parents=True)
    text = (SHIPPED / "extensions_dialer.conf").read_text(encoding="utf-8")
    changed = text.replace("DialStatus: ANSWER", "DialStatus: ANSWERED", 1)
    (newer / "asterisk" / "extensions_dialer.conf").write_text(changed, encoding="utf-8")
    monkeypatch.setenv(ENV_CONFIG_DIR, str(newer))
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio:
        config = write_config(tmp_path, sandbox, twilio, database_url)
        code, lines = await checked(config)
    assert code == 2
    assert lines[2] == (
        f"error: диалплан: на АТС extensions_dialer.conf версии {SHIPPED_VERSION}, у сервиса "
        f"{dialplan_version(changed)}: скопируйте config/asterisk/extensions_dialer.conf на АТС (в /etc/asterisk) "
        "и выполните «dialplan reload»"
    )


async def test_a_pbx_whose_dialplan_is_older_than_the_version_context_fails_with_what_to_do(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    """An Asterisk still on an extensions_dialer.conf from before the file stated its version: Asterisk answers
    ShowDialPlan that it cannot find the context. Here the sandbox's loaded dialplan loses that context (the
    CLI's «dialplan remove context»), and gets it back by the reload the message asks for."""
    assert "Removed context" in sandbox.rx("dialplan remove context dialer-dialplan-version")
    try:
        async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio:
            config = write_config(tmp_path, sandbox, twilio, database_url)
            code, lines = await checked(config)
    finally:
        sandbox.rx("dialplan reload")
    assert code == 2
    assert lines[2] == (
        "error: диалплан: на АТС нет extensions_dialer.conf этой версии или новее (нет dialer-dialplan-version): "
        "скопируйте config/asterisk/extensions_dialer.conf на АТС (в /etc/asterisk) и выполните «dialplan reload»"
    )
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio:
        code, lines = await checked(write_config(tmp_path, sandbox, twilio, database_url))
    assert lines[2] == f"ok: диалплан: extensions_dialer.conf версии {SHIPPED_VERSION}, как у сервиса"
