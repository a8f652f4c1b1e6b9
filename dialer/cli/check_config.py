"""`dialer check-config`: before the first start (and after every change), check what the service will need,
without calling anyone or sending anything: the settings file, the AMI login on the PBX (Login, then Logoff;
nothing is originated), the database and its migrations (read, never changed), and the SMS gateway's
credentials (an account or authorisation request, never a message), and that each PBX runs the dialplan this
service came with. One line per check; exit 0 only if all pass. Secrets never appear: the database URL's
password is masked, and no answer's text is shown unscrubbed."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import aiohttp
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from twilio.rest import Client

from dialer.cli.exits import EXIT_ERROR, EXIT_OK
from dialer.core.dialplan_version import VERSION_CONTEXT
from dialer.core.errors import DialerError, PeerFailed
from dialer.core.privacy import scrub_phones
from dialer.sandbox import Sandbox, SandboxError
from dialer.sandbox.asterisk_conf import DIALER_DIALPLAN, shipped_dialplan_version
from dialer.sandbox.layout import repo_config_dir
from dialer.settings import AmiSettings, Settings, load_settings
from dialer.settings.pbxes import unused_pbxes
from dialer.sms.twilio import TwilioHttpClient
from dialer.storage.db import PG_POOL_BURST, PG_POOL_KEPT, alembic_config, create_engine

TIMEOUT_SECONDS = 10.0
SMSAERO_API = "https://gate.smsaero.ru/v2"
TWILIO_NO_ENVIRONMENT = {"DIALER": "settings-only"}  # the SDK would read TWILIO_* variables otherwise


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'error'}: {self.name}: {scrub_phones(self.detail)}"


class CheckFailed(PeerFailed):
    """A check's reason, written for the person who runs it, with no secret in it."""


async def check_config(path: Path | None, out: TextIO) -> int:
    try:
        settings = load_settings(path)
    except DialerError as err:
        out.write(Outcome("настройки", False, str(err)).line() + "\n")
        return EXIT_ERROR
    out.write(Outcome("настройки", True, str(settings.source or "по умолчанию")).line() + "\n")
    for name in unused_pbxes(settings):
        out.write(f"warning: АТС {name} ([pbx.{name}]) не указана ни у одной клиники\n")
    outcomes = [
        await _run("ami", check_ami(settings)),
        await _run("диалплан", check_dialplan(settings)),
        *[await _run(f"ami {name}", check_ami(settings, pbx)) for name, pbx in settings.pbx.items()],
        *[
            await _run(f"диалплан {name}", check_dialplan(settings, pbx))
            for name, pbx in settings.pbx.items()
        ],
        await _run("база данных", check_database(settings)),
        await _run(f"sms ({settings.sms.provider})", check_sms(settings)),
    ]
    for outcome in outcomes:
        out.write(outcome.line() + "\n")
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_ERROR


async def _run(name: str, check: Awaitable[str]) -> Outcome:
    try:
        return Outcome(name, True, await asyncio.wait_for(check, TIMEOUT_SECONDS * 2))
    except CheckFailed as err:
        return Outcome(name, False, str(err))
    except TimeoutError:
        return Outcome(name, False, f"нет ответа за {TIMEOUT_SECONDS * 2:.0f} с")
    except (OSError, EOFError, aiohttp.ClientError) as err:  # EOFError: the peer closed mid-answer
        return Outcome(name, False, f"нет связи ({type(err).__name__})")


# -- AMI -----------------------------------------------------------------------------------------------


async def check_ami(settings: Settings, pbx: AmiSettings | None = None) -> str:
    """The login on [ami], or on `pbx`, one of the [pbx.<name>] Asterisks."""
    async with _ami_session(settings, pbx) as session:
        return f"{session.where}: вход выполнен ({session.banner})"


_RELOAD = (
    f"скопируйте config/asterisk/{DIALER_DIALPLAN} на АТС (в /etc/asterisk) и выполните «dialplan reload»"
)


async def check_dialplan(settings: Settings, pbx: AmiSettings | None = None) -> str:
    """That the PBX runs the dialplan this service came with (its version context, AMI ShowDialPlan)."""
    try:
        shipped = shipped_dialplan_version()
    except OSError as err:
        missing = repo_config_dir() / "asterisk" / DIALER_DIALPLAN
        raise CheckFailed(f"нет файла {missing} ({type(err).__name__}), не с чем сравнить") from None
    async with _ami_session(settings, pbx) as session:
        answer, listed = await _listing(
            session, {"Action": "ShowDialPlan", "Context": VERSION_CONTEXT}, "ShowDialPlanComplete"
        )
    if answer.get("Response") != "Success":
        message = answer.get("Message", "без объяснения")
        if "find context" in message:
            raise CheckFailed(
                f"на АТС нет {DIALER_DIALPLAN} этой версии или новее (нет {VERSION_CONTEXT}): {_RELOAD}"
            )
        raise CheckFailed(f"АТС не показала диалплан: {message}")
    installed = next((e.get("AppData", "") for e in listed if e.get("Application") == "NoOp"), "")
    if installed != shipped:
        raise CheckFailed(
            f"на АТС {DIALER_DIALPLAN} версии {installed or '?'}, у сервиса {shipped}: {_RELOAD}"
        )
    return f"{DIALER_DIALPLAN} версии {shipped}, как у сервиса"


@dataclass(frozen=True)
class _Session:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    where: str
    banner: str


@asynccontextmanager
async def _ami_session(settings: Settings, pbx: AmiSettings | None) -> AsyncIterator[_Session]:
    """A logged-in AMI session on [ami] or `pbx`, logged off and closed after."""
    ami = pbx or settings.ami
    host, port, username, secret = ami.host, ami.port, ami.username, ami.secret.value
    if ami.use_sandbox:
        try:
            creds = Sandbox().credentials()
        except SandboxError as err:
            raise CheckFailed(f"[ami] host не задан (песочница), а песочницы нет: {err}") from None
        host, port, username, secret = creds.host, creds.port, creds.username, creds.secret
    where = f"{host}:{port} (пользователь {username})"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), ami.connect_timeout)
    except (OSError, TimeoutError) as err:
        raise CheckFailed(f"{where}: нет соединения ({type(err).__name__})") from None
    try:
        banner = (await asyncio.wait_for(reader.readline(), TIMEOUT_SECONDS)).decode(errors="replace").strip()
        if not banner:
            raise CheckFailed(f"{where}: соединение закрыто без приветствия AMI")
        if not banner.startswith("Asterisk Call Manager"):
            raise CheckFailed(f"{where}: это не AMI (ответ {banner[:40]!r})")
        answer = await _action(reader, writer, {"Action": "Login", "Username": username, "Secret": secret})
        if answer.get("Response") != "Success":
            raise CheckFailed(f"{where}: Asterisk отклонил вход: {answer.get('Message', 'без объяснения')}")
        yield _Session(reader, writer, where, banner)
        await _action(reader, writer, {"Action": "Logoff"})
    finally:
        writer.close()
        await _closed(writer)


async def _listing(
    session: _Session, fields: dict[str, str], complete: str
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """An action whose answer is a list of events: the answer, and the events up to `complete` (none when the
    answer is an error)."""
    answer = await _action(session.reader, session.writer, fields)
    listed: list[dict[str, str]] = []
    while answer.get("Response") == "Success":
        frame = await _frame(session.reader)
        if frame.get("Event") == complete:
            break
        listed.append(frame)
    return answer, listed


async def _action(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, fields: dict[str, str]
) -> dict[str, str]:
    """Send one action and read frames until its answer (events before it, if any, are passed over)."""
    action_id = f"check-config-{fields['Action'].lower()}"
    writer.write(
        "".join(f"{k}: {v}\r\n" for k, v in {**fields, "ActionID": action_id}.items()).encode() + b"\r\n"
    )
    await writer.drain()
    while True:
        frame = await _frame(reader)
        if "Response" in frame:  # an answer (events carry Event instead)
            return frame


async def _frame(reader: asyncio.StreamReader) -> dict[str, str]:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_SECONDS)
    return dict(line.split(": ", 1) for line in raw.decode(errors="replace").split("\r\n") if ": " in line)


async def _closed(writer: asyncio.StreamWriter) -> None:
    with suppress(OSError):  # the PBX may have dropped it first (after a refused login it does)
        await writer.wait_closed()


# -- database ------------------------------------------------------------------------------------------


async def check_database(settings: Settings) -> str:
    shown = settings.service.db_url_shown
    if _missing_sqlite_file(settings.service.db_url):
        raise CheckFailed(f"{shown}: файла базы нет; его создаст `dialer db upgrade`")
    engine = create_engine(settings.service.db_url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(_current_heads)
            room = await _server_connections(conn) if conn.dialect.name == "postgresql" else None
    except Exception as err:  # a driver's error text may carry the URL or values: its type only
        raise CheckFailed(f"{shown}: не открывается ({type(err).__name__})") from None
    finally:
        await engine.dispose()
    newest = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    if current != newest:
        have = ", ".join(sorted(current)) or "пустая"
        raise CheckFailed(
            f"{shown}: схема {have}, нужна {', '.join(sorted(newest))}: выполните `dialer db upgrade`"
        )
    line = f"{shown}: открывается, схема актуальна ({', '.join(sorted(newest))})"
    return line if room is None else f"{line}; {connection_room(*room, shown=shown)}"


async def _server_connections(conn: AsyncConnection) -> tuple[int, int]:
    """PostgreSQL's connections open to ordinary users, and how many of them are taken now (this one too)."""
    allowed = int(await conn.scalar(text("SHOW max_connections")) or 0)
    reserved = int(await conn.scalar(text("SHOW superuser_reserved_connections")) or 0)
    taken = await conn.scalar(
        text("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    )
    return allowed - reserved, int(taken or 0)


def connection_room(allowed: int, taken: int, *, shown: str) -> str:
    """What the server's connections leave a node, whose pool may hold PG_POOL_KEPT and PG_POOL_BURST more.

    Only a server that could not take one node's pool even empty is an error: the ones taken now may be this
    node's own, or another node's that the service counts on anyway."""
    node = PG_POOL_KEPT + PG_POOL_BURST
    if allowed < node:
        raise CheckFailed(
            f"{shown}: PostgreSQL принимает {allowed} соединений, а узлу сервиса нужно до {node}: "
            "увеличьте max_connections"
        )
    return f"соединений: сервер принимает {allowed}, занято {taken}, узлу нужно до {node}"


def _missing_sqlite_file(db_url: str) -> bool:
    """Opening a SQLite file that is not there would make an empty one: checked first, so nothing is made."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return False
    return not Path(url.database).exists()


def _current_heads(conn: Connection) -> set[str]:
    return set(MigrationContext.configure(conn).get_current_heads())


# -- SMS -----------------------------------------------------------------------------------------------


async def check_sms(settings: Settings) -> str:
    checks: dict[str, Callable[[Settings], Awaitable[str]]] = {
        "twilio": _twilio,
        "smsaero": _smsaero,
    }
    check = checks.get(settings.sms.provider)
    if check is None:
        return "SMS не отправляются ([sms] provider = none)"
    return await check(settings)


async def _twilio(settings: Settings) -> str:
    twilio = settings.sms.twilio
    if not twilio.account_sid or not twilio.auth_token.value:
        raise CheckFailed("[sms.twilio] account_sid и auth_token обязательны")
    http = TwilioHttpClient(twilio.api_base, TIMEOUT_SECONDS)
    client = Client(
        twilio.account_sid, twilio.auth_token.value, http_client=http, environment=TWILIO_NO_ENVIRONMENT
    )
    try:
        account = await client.api.v2010.accounts(twilio.account_sid).fetch_async()
    except Exception as err:
        status = getattr(err, "status", None)
        if status in (401, 403, 404):
            raise CheckFailed(f"Twilio: неверный account_sid или auth_token (HTTP {status})") from None
        why = f"ответ HTTP {status}" if status else f"нет связи ({type(err).__name__})"
        raise CheckFailed(f"Twilio: {why}") from None
    finally:
        await http.close()
    return f"Twilio: учётная запись {twilio.account_sid[:6]}… {account.status or ''}".rstrip()


async def _smsaero(settings: Settings) -> str:
    aero = settings.sms.smsaero
    if not aero.email or not aero.api_key.value:
        raise CheckFailed("[sms.smsaero] email и api_key обязательны")
    base = (aero.api_base or SMSAERO_API).rstrip("/")
    token = base64.b64encode(f"{aero.email}:{aero.api_key.value}".encode()).decode("ascii")
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as http,
        http.post(
            f"{base}/auth", headers={"Authorization": f"Basic {token}", "Accept": "application/json"}
        ) as answer,
    ):
        text = await answer.text()
    try:
        success = bool(json.loads(text).get("success"))
    except (ValueError, AttributeError):
        success = False
    if answer.status == 401 or (answer.status == 200 and not success):
        raise CheckFailed(f"SMS Aero: неверный email или api_key (HTTP {answer.status})")
    if answer.status != 200:
        raise CheckFailed(f"SMS Aero: HTTP {answer.status}")
    return f"SMS Aero: вход выполнен ({aero.email.split('@')[0][:2]}…@{aero.email.partition('@')[2]})"
