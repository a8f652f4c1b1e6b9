"""What `dialer check-config` says of PostgreSQL's connections: a server too small for one node's pool is an
error; otherwise the line says what it accepts and what is taken."""

from __future__ import annotations

import pytest

from dialer.cli.check_config import CheckFailed, connection_room
from dialer.storage.db import PG_POOL_BURST, PG_POOL_KEPT

NODE = PG_POOL_KEPT + PG_POOL_BURST


def test_a_server_that_could_take_one_nodes_pool_is_reported_with_what_is_taken() -> None:
    line = connection_room(NODE, 40, shown="postgresql+asyncpg://dialer:***@db/dialer")
    assert line == f"соединений: сервер принимает {NODE}, занято 40, узлу нужно до {NODE}"


def test_a_server_too_small_for_one_nodes_pool_fails_the_check_and_says_what_to_raise() -> None:
    with pytest.raises(CheckFailed) as failed:
        connection_room(NODE - 1, 1, shown="postgresql+asyncpg://dialer:***@db/dialer")
    assert str(failed.value) == (
        f"postgresql+asyncpg://dialer:***@db/dialer: PostgreSQL принимает {NODE - 1} соединений, "
        f"а узлу сервиса нужно до {NODE}: увеличьте max_connections"
    )
