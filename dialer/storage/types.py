"""Column types that keep every instant timezone-aware (UTC) on SQLite and PostgreSQL alike, and the CHECK
that a state column holds a state the code knows."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime written to storage")
        value = value.astimezone(UTC)
        # SQLite keeps text; store it naive-UTC so lexical order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        instant: datetime = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def sqlite_instant(value: datetime) -> str:
    """The text UtcDateTime stores on SQLite, made without SQLAlchemy: the fast paths write thousands a second."""
    if value.tzinfo is None:
        raise ValueError("naive datetime written to storage")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def one_of(column: str, states: type[StrEnum]) -> CheckConstraint:
    """The column holds one of these states (or NULL, where it may)."""
    listed = ", ".join(f"'{state.value}'" for state in states)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_known")
