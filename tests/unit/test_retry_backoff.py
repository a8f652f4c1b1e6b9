"""The retry waits of the four places that try again: the worker, the webhook and the campaigns' SMS."""

from __future__ import annotations

import itertools
from datetime import timedelta

from dialer.campaigns.messages import GATEWAY_DOWN_BACKOFF
from dialer.core.retry import RetryBackoff
from dialer.engine.worker import FAILED_TASK_BACKOFF


def test_the_wait_doubles_from_the_first_up_to_the_longest() -> None:
    rule = RetryBackoff(first=timedelta(seconds=5), longest=timedelta(seconds=60), max_doublings=10)
    waits = [rule.after(n).total_seconds() for n in range(8)]
    assert waits == [5, 10, 20, 40, 60, 60, 60, 60]


def test_the_doublings_stop_even_below_the_longest() -> None:
    rule = RetryBackoff(first=timedelta(seconds=1), longest=timedelta(days=1), max_doublings=3)
    assert rule.after(3) == rule.after(10**9) == timedelta(seconds=8)
    assert rule.after(-1) == timedelta(seconds=1)


def test_the_products_rules_keep_their_constants() -> None:
    sms = [GATEWAY_DOWN_BACKOFF.after(n) for n in range(12)]
    worker = [FAILED_TASK_BACKOFF.after(n) for n in range(12)]
    for waits in (sms, worker):
        assert waits[0] == timedelta(seconds=5)
        assert all(a <= b for a, b in itertools.pairwise(waits))
    assert max(sms) == timedelta(minutes=10) and max(worker) == timedelta(minutes=5)
