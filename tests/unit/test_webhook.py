"""The webhook's signature and its retry schedule."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from datetime import timedelta

from dialer.webhook import DELIVERY_BACKOFF, signature


def test_the_signature_is_the_bodys_hmac_sha256_with_the_shared_secret() -> None:
    body = b'{"event": "kos.status", "data": {"status": "booked"}}'
    expected = hmac.new("секрет".encode(), body, hashlib.sha256).hexdigest()
    assert signature("секрет", body) == f"sha256={expected}"
    assert signature("другой", body) != signature("секрет", body)
    assert signature("секрет", body + b" ") != signature("секрет", body)


def test_retries_back_off_exponentially_up_to_an_hour() -> None:
    waits = [DELIVERY_BACKOFF.after(n) for n in range(20)]
    assert waits[:3] == [timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=20)]
    assert all(a <= b for a, b in itertools.pairwise(waits))
    assert max(waits) == DELIVERY_BACKOFF.longest == timedelta(hours=1)
