"""The login limiter on its own: waits that grow and stop growing, attempts counted as they arrive, failures
given back on success, known browsers on their own key, and memory that stays bounded."""

from __future__ import annotations

from dialer.core.throttle import BY_ADDRESS, BY_NAME, Backoff, LoginLimiter, Throttle, Ticket


def test_the_wait_doubles_after_the_free_failures_and_stops_at_the_cap() -> None:
    rule = Backoff(free=3, first=2.0, cap=30.0, forget=600.0)
    assert [rule.wait(n) for n in range(9)] == [0, 0, 0, 2, 4, 8, 16, 30, 30]
    assert rule.wait(10_000) == 30.0


def test_attempts_are_counted_as_they_arrive_and_a_right_one_is_given_back() -> None:
    limiter = LoginLimiter()
    admitted = [limiter.admit("Anna", "10.0.0.1", "", 0.0) for _ in range(20)]
    tickets = [a for a in admitted if isinstance(a, Ticket)]
    assert len(tickets) == BY_NAME.free
    assert all(a == BY_NAME.first for a in admitted if not isinstance(a, Ticket))
    limiter.succeeded(tickets[-1])  # that one was right
    assert isinstance(limiter.admit("anna", "10.0.0.2", "", 0.0), Ticket)  # names are caseless


def test_a_known_browser_answers_to_its_own_key_only() -> None:
    limiter = LoginLimiter()
    now = 0.0
    for i in range(5 * BY_ADDRESS.free):
        limiter.admit(f"name{i}", "nat", "", now)
        limiter.admit("anna", "elsewhere", "", now)
        now += 1.0
    assert not isinstance(limiter.admit("boris", "nat", "", now), Ticket)  # the address is slowed
    assert not isinstance(limiter.admit("anna", "new", "", now), Ticket)  # and so is the name
    assert isinstance(limiter.admit("anna", "nat", "anna:browser1", now), Ticket)


def test_quiet_keys_are_forgotten_and_the_table_never_outgrows_its_bound() -> None:
    rule = Backoff(free=1, first=10.0, cap=10.0, forget=100.0)
    table = Throttle(rule, max_keys=50)
    for i in range(1000):
        table.count(f"k{i}", float(i) / 100)
    assert len(table) == 50
    assert table.wait("k999", 9.99) > 0
    assert table.wait("k999", 9.99 + 101) == 0.0
    assert len(table) == 0
