"""The weekly listening's draw: reproducible, spread over kinds and results, 5 to 10 calls, only the
administrator's own calls of that week."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.core.listening import (
    LONG_CALL_SECONDS,
    MAX_CALLS,
    MIN_CALLS,
    ListenCall,
    propose,
    propose_all,
    week_bounds,
    week_start,
)

ZONE = ZoneInfo("Asia/Yekaterinburg")
MONDAY = date(2026, 11, 30)
START, END = week_bounds(MONDAY, ZONE)
RESULTS = ("booked", "call_again", "refused", "no_result")
KINDS = {"inbound": ("in", ()), "callback": ("out", ("Мы звоним",)), "kos": ("out", ("Мы звоним", "КОС"))}


def call(
    n: int,
    *,
    user: int = 1,
    kind: str = "inbound",
    result: str = "no_result",
    talk: float = 60.0,
    at: datetime | None = None,
) -> ListenCall:
    direction, flags = KINDS[kind]
    when = at or START + timedelta(hours=9, minutes=n)
    return ListenCall(n, user, direction, flags, result, talk, when)


calls_strategy = st.lists(
    st.builds(
        lambda n, user, kind, result, talk, offset: call(
            n, user=user, kind=kind, result=result, talk=talk, at=START + timedelta(minutes=offset)
        ),
        st.integers(1, 10**6),
        st.integers(1, 3),
        st.sampled_from(sorted(KINDS)),
        st.sampled_from(RESULTS),
        st.floats(0, 900),
        # Some calls fall in the week before or after: they must never be proposed.
        st.integers(-3 * 24 * 60, 10 * 24 * 60),
    ),
    max_size=60,
    unique_by=lambda c: c.contact_id,
)


def test_the_same_week_seed_and_calls_give_the_same_list() -> None:
    calls = [call(n, result=RESULTS[n % 4]) for n in range(1, 40)]
    first = propose(calls, user_id=1, monday=MONDAY, zone=ZONE, seed=7)
    again = propose(list(reversed(calls)), user_id=1, monday=MONDAY, zone=ZONE, seed=7)
    other = propose(calls, user_id=1, monday=MONDAY, zone=ZONE, seed=8)
    assert [p.call.contact_id for p in first] == [p.call.contact_id for p in again]
    assert [p.call.contact_id for p in first] != [p.call.contact_id for p in other]


def test_a_week_with_every_stratum_gets_one_of_each() -> None:
    # Forty plain inbound calls that ended without a result, and one of each kind a listening should hear.
    plain = [call(n) for n in range(1, 41)]
    rare = [
        call(101, result="booked"),
        call(102, result="refused"),
        call(103, kind="callback"),
        call(104, kind="kos"),
        call(105, talk=LONG_CALL_SECONDS + 1),
    ]
    for seed in range(20):
        proposed = propose(plain + rare, user_id=1, monday=MONDAY, zone=ZONE, seed=seed)
        ids = {p.call.contact_id for p in proposed}
        assert {101, 102, 103, 104, 105} <= ids, seed
        assert len(proposed) == MAX_CALLS
        assert {p.why for p in proposed} >= {"booked", "refused", "callback", "kos", "long"}


@settings(max_examples=200)
@given(calls=calls_strategy, seed=st.integers(0, 1000), user=st.integers(1, 3), size=st.integers(0, 20))
def test_only_own_calls_of_the_week_between_5_and_10(
    calls: list[ListenCall], seed: int, user: int, size: int
) -> None:
    proposed = propose(calls, user_id=user, monday=MONDAY, zone=ZONE, seed=seed, size=size)
    available = [c for c in calls if c.user_id == user and START <= c.created_at < END]
    assert len(proposed) <= MAX_CALLS
    assert len(proposed) >= min(MIN_CALLS, len(available))
    assert len({p.call.contact_id for p in proposed}) == len(proposed)
    for p in proposed:
        assert p.call.user_id == user
        assert START <= p.call.created_at < END
    # Every stratum the week has is represented.
    results = {c.result for c in available}
    got = {p.call.result for p in proposed}
    assert ({"booked", "refused"} & results) <= got
    kinds = {c.kind for c in available}
    assert ({"callback", "kos"} & kinds) <= {p.call.kind for p in proposed}


def test_each_administrator_gets_their_own_list() -> None:
    calls = [call(n, user=1 + n % 3) for n in range(1, 60)]
    lists = propose_all(calls, monday=MONDAY, zone=ZONE, seed=1)
    assert sorted(lists) == [1, 2, 3]
    for user, proposed in lists.items():
        assert all(p.call.user_id == user for p in proposed)


def test_week_start_is_monday() -> None:
    assert week_start(date(2026, 12, 6)) == MONDAY
    assert week_start(MONDAY) == MONDAY
