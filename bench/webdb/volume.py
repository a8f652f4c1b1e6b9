"""How big the generated clinic chain is, and the settings of a service over it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, insert, text

from dialer.settings import Settings, parse_settings
from dialer.storage import schema

CACHE = Path.home() / ".cache" / "dialer" / "bench-web"


ZONE = ZoneInfo("Europe/Moscow")


PASSWORD = "пароль-для-бенчмарка"


QUEUE = "reception"


INBOUND_CONTEXT = "clinic-inbound"


# Local hour -> share of the day's calls (a reception's day: morning and late-afternoon peaks).
HOURS = {8: 6, 9: 11, 10: 12, 11: 10, 12: 9, 13: 7, 14: 7, 15: 8, 16: 9, 17: 9, 18: 7, 19: 5}


WEEKDAY = (1.0, 1.0, 1.0, 1.0, 0.95, 0.5, 0.15)


@dataclass(frozen=True)
class Volume:
    attempts: int = 1_000_000
    missed: int = 100_000
    miss_share: float = 0.10  # missed / all inbound calls
    patients: int = 200_000
    days: int = 92
    future_days: int = 14
    clinics: tuple[tuple[str, float], ...] = (("c1", 0.4), ("c2", 0.3), ("c3", 0.2), ("c4", 0.1))
    operators: int = 200
    waiting: int = 8_000
    diary: int = 8_000
    recalls: int = 30_000
    seed: int = 20261125

    @classmethod
    def small(cls) -> Volume:
        """The baseline: a fortnight of a small clinic's rows."""
        return cls(
            attempts=10_000,
            missed=1_000,
            patients=5_000,
            days=14,
            future_days=7,
            waiting=200,
            diary=200,
            recalls=500,
        )

    @classmethod
    def huge(cls) -> Volume:
        """Ten times the default: 10,000,000 attempts and as many inbound calls, 2,000,000 patients."""
        return cls(
            attempts=10_000_000,
            missed=1_000_000,
            patients=2_000_000,
            waiting=80_000,
            diary=80_000,
            recalls=300_000,
        )

    def key(self) -> str:
        return (
            f"a{self.attempts}-m{self.missed}-s{self.miss_share}-p{self.patients}-d{self.days}"
            f"+{self.future_days}-c{len(self.clinics)}-o{self.operators}-k{self.recalls}-r{self.seed}"
        )


@dataclass
class Built:
    path: Path
    volume: Volume
    generated_at: datetime
    counts: dict[str, int]
    seconds: float
    users: list[tuple[str, int, str]] = field(default_factory=list)  # (username, user_id, interface)

    def meta(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "counts": self.counts,
            "seconds": self.seconds,
            "volume": asdict(self.volume),
            "users": self.users,
        }


def operator_interface(i: int) -> str:
    return f"PJSIP/{1001 + i}"


def operator_name(i: int) -> str:
    return f"op{i + 1:03d}"


def clinic_ids(volume: Volume) -> list[str]:
    return [c for c, _ in volume.clinics]


def did_of(clinic_id: str) -> str:
    return f"7495123{int(clinic_id[1:]):04d}"


def bench_settings(
    home: Path, db: Path, volume: Volume, port: int = 8080, *, database_url: str | None = None, **extra: Any
) -> Settings:
    """The clinics of the generated data; no SMS provider; an AMI host that is never connected to. The database
    is the SQLite file `db` unless `database_url` names another (the same rows on PostgreSQL)."""
    raw: dict[str, Any] = {
        "service": {
            "data_dir": str(home),
            "database_url": database_url or f"sqlite+aiosqlite:///{db}",
            "listen_host": "127.0.0.1",
            "listen_port": port,
        },
        "ami": {"host": "127.0.0.1", "secret": "bench"},
        "clinics": [
            {
                "id": c,
                "name": f"Клиника «Улыбка» №{c[1:]}",
                "timezone": ZONE.key,
                "queue": QUEUE,
                "dids": [did_of(c)],
                "hours": ["пн-вс 08:00-21:00"],
            }
            for c in clinic_ids(volume)
        ],
        "inbound": {"contexts": [INBOUND_CONTEXT]},
        "sms": {"provider": "none"},
    }
    raw.update(extra)
    return parse_settings(raw)


def ts(instant: float) -> str:
    """An instant (epoch seconds) as UtcDateTime stores it on SQLite: naive UTC text, microseconds."""
    return datetime.fromtimestamp(instant, UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def day_text(d: date) -> str:
    return d.isoformat()


def check_encoding() -> None:
    """Fail loudly if the text written here differs from what SQLAlchemy writes through the schema."""
    engine = create_engine("sqlite://")
    schema.metadata.create_all(engine, tables=[schema.appointments])
    at = datetime(2026, 11, 25, 9, 42, 11, 252848, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.appointments).values(
                clinic_id="c",
                appointment_id="a",
                patient_id="p",
                visit_at=at,
                visit_day=at.date(),
                doctor="d",
                specialty="",
                high_value=True,
                reminder_status="pending",
                attended=False,
                imported_at=at,
                updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            )
        )
        row = conn.execute(
            text("select visit_at, visit_day, high_value, attended, updated_at from appointments")
        ).one()
    ours = (
        ts(at.timestamp()),
        day_text(at.date()),
        1,
        0,
        ts(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()),
    )
    if tuple(row) != ours:
        raise RuntimeError(f"encoding differs from SQLAlchemy's: {tuple(row)} != {ours}")
