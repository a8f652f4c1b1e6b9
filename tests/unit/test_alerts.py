"""Overload alerts with a fake clock: raised once, cleared once, never flapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.core.alerts import AlertBook, AlertKind, Change, Limits, Observation, conditions
from dialer.core.clock import FakeClock

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LIMITS = Limits(
    waiting_callers=3,
    longest_wait=timedelta(seconds=90),
    missed_percent=8.0,
    min_calls=10,
    clear_after=timedelta(minutes=2),
)
CALM = Observation(waiting=0, longest_wait=0.0, calls_15m=20, missed_15m=0, callback_at_risk=0)


def obs(**changes: float) -> Observation:
    values = {**CALM.__dict__, **changes}
    return Observation(
        waiting=int(values["waiting"]),
        longest_wait=float(values["longest_wait"]),
        calls_15m=int(values["calls_15m"]),
        missed_15m=int(values["missed_15m"]),
        callback_at_risk=int(values["callback_at_risk"]),
    )


HOLDS = {
    AlertKind.WAITING: obs(waiting=4),
    AlertKind.LONG_WAIT: obs(longest_wait=91),
    AlertKind.MISSED_RATE: obs(calls_15m=20, missed_15m=2),  # 10 %
    AlertKind.CALLBACK_AT_RISK: obs(callback_at_risk=1),
}


def kinds(changes: list[Change]) -> list[tuple[AlertKind, bool]]:
    return [(c.kind, c.raised) for c in changes]


def test_calm_raises_nothing() -> None:
    assert all(v is None for v in conditions(CALM, LIMITS).values())
    assert AlertBook(LIMITS).update(CALM, T0) == []


def test_the_limits_themselves_are_not_over_them() -> None:
    at_limit = obs(waiting=3, longest_wait=90, calls_15m=25, missed_15m=2)  # 8 % exactly
    assert all(v is None for v in conditions(at_limit, LIMITS).values())


def test_each_kind_is_raised_once_and_cleared_once_after_calm() -> None:
    for kind, bad in HOLDS.items():
        clock = FakeClock(T0)
        book = AlertBook(LIMITS)
        raised = book.update(bad, clock.now())
        assert kinds(raised) == [(kind, True)], kind
        assert raised[0].detail
        for _ in range(10):  # still holding: nothing new
            clock.advance(15)
            assert book.update(bad, clock.now()) == []
        assert kind in book.active
        clock.advance(15)
        assert book.update(CALM, clock.now()) == []  # calm starts now
        clock.advance(LIMITS.clear_after - timedelta(seconds=1))
        assert book.update(CALM, clock.now()) == []
        clock.advance(1)
        assert kinds(book.update(CALM, clock.now())) == [(kind, False)]
        for _ in range(10):
            clock.advance(60)
            assert book.update(CALM, clock.now()) == []
        assert book.active == {} and book.calm_since == {}
        clock.advance(5)
        assert kinds(book.update(bad, clock.now())) == [(kind, True)]  # comes back: raised again


def test_a_dip_shorter_than_clear_after_does_not_flap() -> None:
    clock = FakeClock(T0)
    book = AlertBook(LIMITS)
    bad = HOLDS[AlertKind.WAITING]
    log: list[tuple[AlertKind, bool]] = []
    log += kinds(book.update(bad, clock.now()))
    # The queue dips under the limit for 100 s, twice, in a row of ups and downs.
    for _ in range(3):
        for _ in range(10):
            clock.advance(10)
            log += kinds(book.update(CALM, clock.now()))
        clock.advance(10)
        log += kinds(book.update(bad, clock.now()))
    assert log == [(AlertKind.WAITING, True)]
    # The calm must be unbroken, and counts from the first calm look: 10 s, 20 s … 120 s after the last bad one
    # it has lasted 0 … 110 s.
    for _ in range(12):
        clock.advance(10)
        log += kinds(book.update(CALM, clock.now()))
    assert log == [(AlertKind.WAITING, True)]
    clock.advance(10)
    log += kinds(book.update(CALM, clock.now()))
    assert log == [(AlertKind.WAITING, True), (AlertKind.WAITING, False)]


def test_kinds_are_independent() -> None:
    clock = FakeClock(T0)
    book = AlertBook(LIMITS)
    both = obs(waiting=5, longest_wait=200)
    assert sorted(kinds(book.update(both, clock.now()))) == sorted(
        [(AlertKind.WAITING, True), (AlertKind.LONG_WAIT, True)]
    )
    only_long = obs(longest_wait=200)
    clock.advance(LIMITS.clear_after)
    assert book.update(only_long, clock.now()) == []
    clock.advance(LIMITS.clear_after)
    assert kinds(book.update(only_long, clock.now())) == [(AlertKind.WAITING, False)]
    assert list(book.active) == [AlertKind.LONG_WAIT]


def test_missed_rate_needs_enough_calls() -> None:
    book = AlertBook(LIMITS)
    few = obs(calls_15m=9, missed_15m=9)  # 100 % of too few calls
    assert book.update(few, T0) == []
    enough = obs(calls_15m=10, missed_15m=1)  # 10 % of ten
    assert kinds(book.update(enough, T0)) == [(AlertKind.MISSED_RATE, True)]
    assert conditions(obs(calls_15m=0, missed_15m=0), LIMITS)[AlertKind.MISSED_RATE] is None


def test_callback_at_risk() -> None:
    clock = FakeClock(T0)
    book = AlertBook(LIMITS)
    changes = book.update(obs(callback_at_risk=2), clock.now())
    assert kinds(changes) == [(AlertKind.CALLBACK_AT_RISK, True)]
    assert "2" in changes[0].detail
    clock.advance(30)
    assert book.update(obs(callback_at_risk=1), clock.now()) == []
    clock.advance(30)
    assert book.update(CALM, clock.now()) == []
    clock.advance(LIMITS.clear_after)
    assert kinds(book.update(CALM, clock.now())) == [(AlertKind.CALLBACK_AT_RISK, False)]


@given(
    pattern=st.lists(st.tuples(st.booleans(), st.integers(1, 200)), min_size=1, max_size=60),
    kind=st.sampled_from(sorted(HOLDS)),
)
@settings(max_examples=200, deadline=None)
def test_raises_and_clears_alternate_and_a_clear_needs_unbroken_calm(
    pattern: list[tuple[bool, int]], kind: AlertKind
) -> None:
    clock = FakeClock(T0)
    book = AlertBook(LIMITS)
    up = False
    calm_from: datetime | None = None
    for bad, seconds in pattern:
        now = clock.now()
        changes = book.update(HOLDS[kind] if bad else CALM, now)
        assert all(c.kind is kind for c in changes)
        assert len(changes) <= 1
        if bad:
            calm_from = None
            assert kinds(changes) == ([] if up else [(kind, True)])
            up = True
        else:
            if calm_from is None:
                calm_from = now
            should_clear = up and now - calm_from >= LIMITS.clear_after
            assert kinds(changes) == ([(kind, False)] if should_clear else [])
            if should_clear:
                up = False
        assert (kind in book.active) == up
        clock.advance(seconds)
