"""`dialer db copy-from-sqlite FILE`: move an installation's SQLite file into the database the settings name."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url

from dialer.cli.exits import EXIT_OK
from dialer.core.errors import ConfigError
from dialer.settings import Settings
from dialer.storage.copying import copy_database
from dialer.storage.repository import Storage


async def copy_from_sqlite(settings: Settings, file: Path | None, *, force: bool, out: TextIO) -> int:
    if file is None:
        raise ConfigError("укажите файл: dialer db copy-from-sqlite FILE")
    where = await asyncio.to_thread(file.resolve)
    if not await asyncio.to_thread(where.is_file):
        raise ConfigError(f"нет файла базы SQLite: {file}")
    target_url = settings.service.db_url
    if make_url(target_url).get_backend_name() == "sqlite":
        raise ConfigError(
            "копировать некуда: в настройках [service] database_url — SQLite; укажите PostgreSQL "
            "(postgresql+asyncpg://…) или DIALER_DATABASE_URL"
        )
    # Both are brought to the newest version first, so that the two hold the same tables.
    source = await Storage.open(f"sqlite+aiosqlite:///{where}")
    try:
        target = await Storage.open(target_url)
        try:
            out.write(f"Копирование {file} → {settings.service.db_url_shown}\n")
            copies = await copy_database(source.engine, target.engine, force=force)
        finally:
            await target.close()
    finally:
        await source.close()
    width = max(len(c.table) for c in copies)
    for c in copies:
        out.write(f"  {c.table:<{width}}  {c.target_rows:>9}\n")
    out.write(
        f"Скопировано строк: {sum(c.target_rows for c in copies)} в {len(copies)} таблицах; "
        "число строк в каждой таблице совпадает с исходным\n"
    )
    return EXIT_OK
