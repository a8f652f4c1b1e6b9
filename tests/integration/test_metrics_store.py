"""The counts behind /metrics on a real database migrated by the product (a SQLite file; PostgreSQL with
--db=postgresql): only the day's SMS and ended attempts are counted, through their created_at indexes, and the
nearest open deadline comes back as an aware instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from dialer.core.metrics import Tally
from dialer.storage.metrics import SqlMetricsStore
from dialer.storage.repository import Storage
from dialer.storage.schema import callback_tasks, sms_messages

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 3, tzinfo=UTC)


def sms(key: str, status: str, created: datetime) -> dict[str, object]:
    return {
        "sms_key": key,
        "clinic_id": "c1",
        "phone": "+79161234567",
        "body": "Клиника: приём завтра",
        "provider": "twilio",
        "status": status,
        "created_at": created,
        "updated_at": created,
    }


def task(clinic: str, state: str, deadline: datetime) -> dict[str, object]:
    return {
        "clinic_id": clinic,
        "phone": "+79161234567",
        "state": state,
        "reason": "abandoned",
        "first_call_id": f"call-{clinic}-{state}-{deadline.timestamp()}",
        "first_missed_at": deadline - timedelta(minutes=15),
        "last_missed_at": deadline - timedelta(minutes=15),
        "starts_at": deadline - timedelta(minutes=15),
        "deadline_at": deadline,
    }


async def test_the_days_sms_and_the_nearest_open_deadline(storage: Storage) -> None:
    async with storage.engine.begin() as conn:
        await conn.execute(
            insert(sms_messages),
            [
                sms("yesterday", "delivered", MIDNIGHT - timedelta(seconds=1)),
                sms("first", "delivered", MIDNIGHT),
                sms("second", "delivered", NOW),
                sms("third", "queued", NOW),
            ],
        )
        await conn.execute(
            insert(callback_tasks),
            [
                task("c1", "open", NOW + timedelta(minutes=9)),
                task("c1", "open", NOW + timedelta(minutes=4)),
                task("c1", "contacted", NOW - timedelta(minutes=30)),
                task("c2", "not_reached", NOW - timedelta(minutes=30)),
            ],
        )
    store = SqlMetricsStore(storage.engine)
    assert sorted(await store.sms_by_state(MIDNIGHT), key=lambda t: t.second) == [
        Tally("twilio", "delivered", 2),
        Tally("twilio", "queued", 1),
    ]
    assert await store.nearest_open_deadlines() == {"c1": NOW + timedelta(minutes=4)}
    assert sorted(await store.callbacks_by_state(), key=lambda t: (t.first, t.second)) == [
        Tally("c1", "contacted", 1),
        Tally("c1", "open", 2),
        Tally("c2", "not_reached", 1),
    ]
    assert await store.attempts_by_result(MIDNIGHT) == []
    assert await store.lease_holder("dialing", NOW) is None
    await store.ping()
