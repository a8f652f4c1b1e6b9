"""The Prometheus text the service writes, read back by Prometheus' own parser (prometheus_client)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dialer.core.metrics import Series, one, render


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        f.name: [(dict(s.labels), s.value) for s in f.samples] for f in text_string_to_metric_families(text)
    }


def test_gauges_counters_and_info_read_back_as_written() -> None:
    text = render(
        [
            Series("build_info", "info", "The build.", (({"version": "0.1.0"}, 1),)),
            Series("ami_up", "gauge", "Link.", (({"pbx": "pbx-1"}, 1),)),
            Series(
                "attempts_total",
                "counter",
                "Attempts.",
                (
                    ({"campaign": "reminders", "result": "answered"}, 3),
                    ({"campaign": "callbacks", "result": "busy"}, 1),
                ),
            ),
            one("calls_in_flight", "gauge", "Calls.", 2),
            Series("callback_deadline_seconds", "gauge", "Deadline.", (({"clinic": 'a"b\\c'}, -12.5),)),
        ]
    )
    got = families(text)
    assert got["dialer_build_info"] == [({"version": "0.1.0"}, 1.0)]
    assert got["dialer_ami_up"] == [({"pbx": "pbx-1"}, 1.0)]
    assert sorted(got["dialer_attempts"], key=lambda sample: sample[0]["campaign"]) == [
        ({"campaign": "callbacks", "result": "busy"}, 1.0),
        ({"campaign": "reminders", "result": "answered"}, 3.0),
    ]
    assert got["dialer_calls_in_flight"] == [({}, 2.0)]
    assert got["dialer_callback_deadline_seconds"] == [({"clinic": 'a"b\\c'}, -12.5)]
    assert "# TYPE dialer_attempts_total counter" in text and "dialer_attempts_total{" in text


def test_a_family_without_samples_is_still_declared() -> None:
    text = render([Series("callback_deadline_seconds", "gauge", "Deadline.")])
    assert families(text) == {"dialer_callback_deadline_seconds": []}


@pytest.mark.parametrize(
    ("series", "message"),
    [
        (lambda: Series("attempts", "counter", "x"), "ends in _total"),
        (lambda: Series("bad-name", "gauge", "x"), "metric name"),
        (lambda: Series("ok", "gauge", "x", (({"bad-label": "v"}, 1),)), "label name"),
    ],
)
def test_a_bad_name_is_refused_with_a_clear_error(series: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        assert callable(series)
        series()
