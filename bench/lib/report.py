"""The figures a benchmark prints: quantiles, durations, shares and ratios against the run's own baseline."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

Figures = TypeVar("Figures")


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile (the value at rank ceil(q·n)); nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def latency_ms(values: Sequence[float]) -> str:
    """p50, p90, p99 and max of durations in seconds, shown in milliseconds."""
    if not values:
        return "n/a"
    return (
        f"p50 {1000 * quantile(values, 0.5):7.1f}  p90 {1000 * quantile(values, 0.9):7.1f}  "
        f"p99 {1000 * quantile(values, 0.99):7.1f}  max {1000 * max(values):7.1f} ms"
    )


def share(part: int, whole: int) -> str:
    """`part/whole (p%)`, or a dash when there is nothing to share."""
    return f"{part}/{whole} ({100.0 * part / whole:.1f}%)" if whole else "-"


def ratio(measured: float, baseline: float) -> str:
    """`x1.23`: the measured figure over the baseline measured in the same run; blank when undefined."""
    if not all(math.isfinite(v) for v in (measured, baseline)) or baseline == 0:
        return ""
    return f"x{measured / baseline:.2f}"


def print_table(
    columns: Sequence[str],
    rows: Sequence[tuple[str, Sequence[str]]],
    *,
    label_width: int = 46,
    width: int = 14,
) -> None:
    """One line per figure, one column per variant, the baseline's column first by convention."""
    print(f"  {'':<{label_width}}" + "".join(f"{c:>{width}}" for c in columns))
    for label, cells in rows:
        print(f"  {label:<{label_width}}" + "".join(f"{c:>{width}}" for c in cells))


def column_rows(
    columns: Sequence[Figures], rows: Sequence[tuple[str, Callable[[Figures], str]]]
) -> list[tuple[str, list[str]]]:
    """Rows of `print_table` from one formatter per row applied to every column's figures."""
    return [(label, [show(c) for c in columns]) for label, show in rows]
