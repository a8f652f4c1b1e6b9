"""The `dialer` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from dialer import accounts, personal_data
from dialer.cli import exits, lists, reports, service
from dialer.core.passwords import MIN_LENGTH
from dialer.environment import clock_for
from dialer.logjson import LOG_FORMATS, use_format
from dialer.settings import Settings, load_settings

CONFIG_LOCATIONS = (Path("dialer.toml"), Path("/etc/dialer/dialer.toml"))


def find_config(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    if os.environ.get("DIALER_CONFIG"):
        return Path(os.environ["DIALER_CONFIG"])
    return next((p for p in CONFIG_LOCATIONS if p.exists()), None)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"нужна дата ГГГГ-ММ-ДД, а не {text!r}") from None


PASSWORD_STDIN = (
    f"прочитать пароль (не короче {MIN_LENGTH} символов) из стандартного ввода; иначе он будет придуман"
)
USER_ACTIONS = {
    "disable": "отключить: вход закрыт, сессии и открытые страницы завершаются",
    "enable": "снова разрешить вход",
    "passwd": "сменить пароль (сессии пользователя завершаются)",
    "token": "выдать новый API-токен (прежний перестаёт действовать)",
    "revoke-token": "отозвать API-токен",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dialer", description="Автообзвон клиники рядом с Asterisk.")
    p.add_argument("--config", type=Path, help="файл настроек TOML (иначе $DIALER_CONFIG или ./dialer.toml)")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING")
    p.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=None,
        help="text или json (по строке JSON на запись; иначе [service] log_format)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="запустить сервис (без настроек — демонстрация на песочнице)")
    run.add_argument("--demo", action="store_true", help="демонстрация даже при наличии настроек")

    sandbox = sub.add_parser("sandbox", help="локальный Asterisk 22 в chroot")
    sandbox.add_argument(
        "action",
        choices=("up", "down", "status", "reload", "rebuild"),
        help="up, down, status; reload: the dialplan and sounds again; rebuild: the chroot from scratch",
    )

    imp = sub.add_parser("import", help="загрузить список")
    imp.add_argument("kind", choices=("appointments", "kos"))
    imp.add_argument("file", type=Path)

    exp = sub.add_parser("export", help="выгрузить результаты")
    exp.add_argument("kind", choices=("outcomes", "kos"))
    exp.add_argument("--date", type=_day, default=None, help="день визитов (для outcomes)")
    exp.add_argument("--format", choices=("csv",), default="csv")
    exp.add_argument("--clinic", default=None)

    _users_parser(sub)

    report = sub.add_parser("report", help="отчёты")
    report.add_argument("kind", choices=("sla",))
    report.add_argument("--date", type=_day, required=True)
    report.add_argument("--clinic", default=None)

    camp = sub.add_parser("campaign", help="кампании обзвона")
    camp_sub = camp.add_subparsers(dest="action", required=True)
    camp_run = camp_sub.add_parser("run", help="провести кампанию в этом процессе")
    camp_run.add_argument("campaign", choices=("reminders",))
    camp_run.add_argument("--date", type=_day, required=True, help="дата приёмов, о которых напоминаем")
    camp_run.add_argument("--until-done", action="store_true", help="завершиться, когда план выполнен")
    camp_run.add_argument(
        "--sms-wait", type=float, default=120.0, help="сколько секунд ждать отчётов о доставке"
    )

    prompts = sub.add_parser("prompts", help="голосовые подсказки автоинформатора")
    prompts.add_argument("action", choices=("build",))
    prompts.add_argument("--out", type=Path, default=None, help="папка звуков Asterisk (иначе песочница)")

    db = sub.add_parser("db", help="база данных")
    db.add_argument("action", choices=("upgrade", "copy-from-sqlite"))
    db.add_argument(
        "file", nargs="?", type=Path, help="copy-from-sqlite: файл базы SQLite, откуда копировать"
    )
    db.add_argument(
        "--force", action="store_true", help="copy-from-sqlite: очистить непустую базу перед копированием"
    )

    sub.add_parser(
        "check-config",
        help="проверить настройки, вход в AMI, базу данных и SMS-шлюз, никому не звоня и ничего не отправляя",
    )

    _personal_data_parser(sub)
    return p


def _users_parser(sub: Any) -> None:
    users = sub.add_parser("users", help="пользователи веб-интерфейса")
    users_sub = users.add_subparsers(dest="action", required=True)
    add = users_sub.add_parser("add", help="создать пользователя")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=("operator", "supervisor", "admin"))
    add.add_argument("--name", default="", help="ФИО, как его видят коллеги")
    add.add_argument(
        "--phone",
        action="append",
        default=[],
        dest="interfaces",
        help="телефон администратора, как его знает очередь (PJSIP/101); можно несколько",
    )
    add.add_argument(
        "--clinic",
        action="append",
        default=[],
        dest="clinics",
        help="клиника пользователя; можно несколько раз; '*' — все клиники "
        "(по умолчанию все для admin и там, где клиника одна)",
    )
    add.add_argument("--password-stdin", action="store_true", help=PASSWORD_STDIN)
    add.add_argument("--api-token", action="store_true", help="выдать API-токен для других систем")
    users_sub.add_parser("list", help="список пользователей: роль, клиники, телефоны, токен, последний вход")
    for action, text in USER_ACTIONS.items():
        one = users_sub.add_parser(action, help=text)
        one.add_argument("username")
        if action == "passwd":
            one.add_argument("--password-stdin", action="store_true", help=PASSWORD_STDIN)

    audit = sub.add_parser(
        "audit", help="журнал действий: входы, выгрузки, загрузки, итоги звонков, пользователи"
    )
    audit.add_argument("--since", type=_day, default=None, help="с этого дня (ГГГГ-ММ-ДД)")
    audit.add_argument("--user", default=None, help="только действия этого пользователя (или cli:ИМЯ)")


def _personal_data_parser(sub: Any) -> None:
    purge = sub.add_parser("purge", help="удалить персональные данные старше сроков хранения ([retention])")
    purge.add_argument("--dry-run", action="store_true", help="только посчитать, ничего не менять")
    patients = sub.add_parser("patients", help="персональные данные пациентов")
    patients_sub = patients.add_subparsers(dest="action", required=True)
    forget = patients_sub.add_parser("forget", help="стереть всё о пациентах с этим номером (152-ФЗ, ст. 21)")
    forget.add_argument("phone", help="номер, как его пишут: 8 (916) 123-45-67, +79161234567")
    forget.add_argument("--dry-run", action="store_true", help="только посчитать, ничего не менять")


# Libraries kept at WARNING whatever the level asked for: noise, or worse, aiosqlite's DEBUG lines, which
# show every statement with the values bound to it (patients' names and phones).
QUIET_LIBRARIES = ("twilio.http_client", "aiohttp.access", "panoramisk", "aiosqlite")


def quiet_libraries() -> None:
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _setup_logging(level: str, log_format: str = "text") -> None:
    logging.basicConfig(level=level, stream=sys.stderr)
    use_format(log_format)
    quiet_libraries()


def _run_async(make: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await make(stop)

    return asyncio.run(main())


def dispatch(args: argparse.Namespace, settings_path: Path | None) -> int:
    out = sys.stdout
    if args.command == "sandbox":
        from dialer.sandbox.cli import sandbox_command

        return sandbox_command(args.action, out)
    if args.command == "run" and (args.demo or settings_path is None):
        from dialer.demo import run_demo

        return _run_async(lambda stop: run_demo(out, stop))
    if args.command == "check-config":
        from dialer.cli.check_config import check_config

        return asyncio.run(check_config(settings_path, out))
    settings: Settings = load_settings(settings_path)
    if args.log_format is None:
        use_format(settings.service.log_format)
    if args.command == "prompts":
        return reports.build_prompts(settings, args.out, out)
    if args.command == "run":
        return _run_async(lambda stop: service.serve(settings, out, stop))
    if args.command == "campaign":
        return _run_async(
            lambda stop: service.run_campaign(
                settings, args.date, until_done=args.until_done, sms_wait=args.sms_wait, out=out, stop=stop
            )
        )
    return asyncio.run(_one_shot(args, settings, out))


async def _one_shot(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """The commands that do one thing and end, rather than run until stopped."""
    if args.command in ("import", "export"):
        return await _lists(args, settings, out)
    if args.command == "users":
        return await _users(args, settings, out)
    if args.command == "audit":
        return await accounts.audit(settings, args.since, args.user, out)
    if args.command == "report":
        return await reports.report_sla(settings, args.date, args.clinic, out)
    if args.command == "db" and args.action == "copy-from-sqlite":
        from dialer.cli.dbcopy import copy_from_sqlite

        return await copy_from_sqlite(settings, args.file, force=args.force, out=out)
    if args.command == "db":
        return await reports.upgrade_db(settings, out)
    if args.command in ("purge", "patients"):
        return await _personal_data(args, settings, out)
    raise AssertionError(f"unhandled command {args.command}")


async def _users(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.action == "add":
        return await accounts.users_add(
            settings,
            username=args.username,
            role=args.role,
            name=args.name,
            interfaces=args.interfaces,
            clinics=args.clinics,
            password=sys.stdin.readline().rstrip("\n") if args.password_stdin else None,
            api_token=args.api_token,
            out=out,
        )
    if args.action == "list":
        return await accounts.users_list(settings, out)
    if args.action == "passwd":
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
        return await accounts.users_passwd(settings, args.username, password, out)
    change = {
        "disable": accounts.users_disable,
        "enable": accounts.users_enable,
        "token": accounts.users_token,
        "revoke-token": accounts.users_revoke_token,
    }[args.action]
    return await change(settings, args.username, out)


async def _personal_data(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.command == "purge":
        return await personal_data.purge_command(settings, clock_for(settings), dry_run=args.dry_run, out=out)
    return await personal_data.forget_command(settings, args.phone, dry_run=args.dry_run, out=out)


async def _lists(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.command == "import" and args.kind == "kos":
        return await lists.import_recalls_file(settings, args.file, out)
    if args.command == "import":
        return await lists.import_appointments_file(settings, args.file, out)
    if args.kind == "kos":
        return await lists.export_recalls(settings, args.clinic, out)
    if args.date is None:
        sys.stderr.write("dialer export outcomes: нужна --date ГГГГ-ММ-ДД\n")
        return exits.EXIT_ERROR
    return await lists.export_outcomes(settings, args.date, args.clinic, out)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    default_level = "INFO" if args.command == "run" else "WARNING"
    _setup_logging(
        (args.log_level or os.environ.get("DIALER_LOG_LEVEL") or default_level).upper(),
        args.log_format or "text",
    )
    try:
        return dispatch(args, find_config(args.config))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        line, code = exits.explain(exc)
        sys.stderr.write(line + "\n")
        return code


if __name__ == "__main__":
    sys.exit(main())
